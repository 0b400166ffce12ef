"""BuildKit's control API on POST /grpc (issue 14, first part): the h2c upgrade, gRPC served
behind it, hostile bytes after the upgrade, and what Compose v2 gets from it."""
import os
import socket
import subprocess
import time

from conftest import DOCKER


def upgrade(d):
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.sock)
    s.settimeout(10)
    s.sendall(b"POST /grpc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.decode()


def test_grpc_upgrades_to_h2c_and_speaks_http2(daemon):
    s, head = upgrade(daemon)
    assert head.startswith("HTTP/1.1 101 ") and "Upgrade: h2c" in head, head
    # The client's HTTP/2 preface and an empty SETTINGS frame: the server answers with its own
    # SETTINGS frame (type 4) first, as any HTTP/2 server must.
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    frame = s.recv(9)
    assert len(frame) == 9 and frame[3] == 4, frame
    s.close()


def test_garbage_after_the_upgrade_closes_that_connection_only(daemon):
    for junk in [b"\x00" * 64, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", os.urandom(4096), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 100]:
        s, head = upgrade(daemon)
        assert head.startswith("HTTP/1.1 101 ")
        s.sendall(junk)
        deadline = time.time() + 10
        closed = False
        while time.time() < deadline:
            try:
                if s.recv(65536) == b"":
                    closed = True
                    break
            except socket.timeout:
                break
        s.close()
        assert closed, junk[:20]
    assert daemon.api("GET", "/_ping")[0] == 200


def test_grpc_without_the_upgrade_is_refused(daemon):
    status, _, body = daemon.api("POST", "/grpc")
    assert status == 400 and b"h2c upgrade" in body


def test_compose_v2_builds_with_buildkit_get_a_clear_refusal(daemon, tmp_path):
    """With DOCKER_BUILDKIT unset Compose v2 builds through /grpc. Before, berthd answered 404
    and Compose went to pull moby/buildkit (offline: a resolver error far from the cause); now
    the gRPC calls reach berthd and the build ends with its words until Solve is implemented."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: bk-app\n")
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_BUILDKIT"}
    env["DOCKER_HOST"] = daemon.host
    r = subprocess.run([DOCKER, "compose", "-p", "bk", "build"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "not implemented by berthd yet" in r.stderr and "moby/buildkit" not in r.stderr, r.stderr
