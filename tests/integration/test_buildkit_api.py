"""BuildKit's control API on POST /grpc (issue 14, first part): the h2c upgrade, gRPC served
behind it, hostile bytes after the upgrade, and what Compose v2 gets from it."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BIN, DOCKER, hijack


def upgrade(d):
    s, head = hijack(d, "/grpc", protocol="h2c")
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


def compose(d, cwd, *args, timeout=180):
    """Compose v2 as users run it: DOCKER_BUILDKIT unset, so builds go through /grpc and /session."""
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_BUILDKIT"}
    env["DOCKER_HOST"] = d.host
    return subprocess.run([DOCKER, "compose", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


SHARED_BASE = """FROM busybox AS base
RUN echo base > /base
FROM base AS api
COPY api.txt /api.txt
RUN cat /api.txt > /api.out
CMD ["sleep", "300"]
FROM base AS web
COPY web.txt /web.txt
RUN cat /web.txt > /web.out
"""


def test_compose_v2_builds_two_services_sharing_a_base_stage_through_buildkit(daemon, tmp_path):
    """Before, berthd answered /grpc with 404 (Compose then tried to pull moby/buildkit), then
    with UNIMPLEMENTED; now Compose v2's own BuildKit client builds on Berth's builder."""
    (tmp_path / "Dockerfile").write_text(SHARED_BASE)
    (tmp_path / "api.txt").write_text("api\n")
    (tmp_path / "web.txt").write_text("web\n")
    (tmp_path / "secret.key").write_text("do not send\n")
    (tmp_path / ".dockerignore").write_text("secret.key\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  api:\n    build: {context: ., target: api}\n    image: bk-api\n"
        "  web:\n    build: {context: ., target: web}\n    image: bk-web\n")
    r = compose(daemon, tmp_path, "-p", "bk2", "build")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    # BuildKit's progress, as Compose draws it: numbered vertexes named by service and step.
    assert "[api internal] load build definition from Dockerfile" in out and "[web 4/5] COPY web.txt /web.txt" in out, out
    assert "naming to docker.io/library/bk-api:latest done" in out, out
    assert daemon.docker("run", "--rm", "bk-api", "cat", "/base", "/api.out").stdout == "base\napi\n"
    assert daemon.docker("run", "--rm", "bk-web", "cat", "/base", "/web.out").stdout == "base\nweb\n"
    # The .dockerignore'd file never reached the daemon.
    assert daemon.docker("run", "--rm", "bk-api", "ls", "/").returncode == 0
    labels = json.loads(daemon.docker("image", "inspect", "bk-api", "--format", "{{json .Config.Labels}}").stdout)
    assert labels["com.docker.compose.service"] == "api"
    # Nothing changed: every step that ran is taken from the cache, and the images are the same
    # ones (before, the labels Compose sends made a new image, and a dangling one, each time).
    first_ids = [daemon.docker("image", "inspect", i, "--format", "{{.Id}}").stdout for i in ("bk-api", "bk-web")]
    # The daemon is shared with other tests' untagged images: only new ones count.
    dangling_before = set(daemon.docker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split())
    again = compose(daemon, tmp_path, "-p", "bk2", "build")
    assert again.returncode == 0, again.stderr
    text = again.stdout + again.stderr
    assert text.count("CACHED") >= 6 and " 0.0s" in text, text
    # Only changed files travel: the daemon kept the context from the first build.
    assert re.search(r"transferring context: 0 bytes, \d+ entries, [1-9]\d* files unchanged since the last build", text), text
    assert [daemon.docker("image", "inspect", i, "--format", "{{.Id}}").stdout for i in ("bk-api", "bk-web")] == first_ids
    dangling = set(daemon.docker("images", "-q", "--no-trunc", "--filter", "dangling=true").stdout.split()) - dangling_before
    assert not dangling, [daemon.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", i).stdout for i in dangling] + [r.stdout + r.stderr]
    # The kept context is a build cache record, which `docker builder prune` removes.
    kept = [c for c in json.loads(daemon.api("GET", "/system/df")[2])["BuildCache"] if c["Type"] == "source.local"]
    assert kept and all(c["Size"] > 0 for c in kept), kept
    # One file changed: only what depends on it runs again.
    (tmp_path / "web.txt").write_text("web2\n")
    third = compose(daemon, tmp_path, "-p", "bk2", "build", "web")
    assert third.returncode == 0
    assert daemon.docker("run", "--rm", "bk-web", "cat", "/web.out").stdout == "web2\n"
    daemon.docker("rmi", "bk-api", "bk-web")


def test_compose_v2_up_build_runs_what_it_built(daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text(SHARED_BASE)
    (tmp_path / "api.txt").write_text("up\n")
    (tmp_path / "web.txt").write_text("-\n")
    (tmp_path / "compose.yaml").write_text("services:\n  api:\n    build: {context: ., target: api}\n    image: bk-up\n")
    r = compose(daemon, tmp_path, "-p", "bkup", "up", "--build", "-d")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        assert daemon.docker("exec", "bkup-api-1", "cat", "/api.out").stdout == "up\n"
    finally:
        compose(daemon, tmp_path, "-p", "bkup", "down", "-t", "0")
        daemon.docker("rmi", "bk-up")


def test_a_failing_step_is_named_with_its_exit_code(daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo about to fail && exit 3\n")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: bk-fail\n")
    r = compose(daemon, tmp_path, "-p", "bkf", "build")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "[app 2/2] RUN echo about to fail && exit 3" in out and "about to fail" in out, out
    assert 'process "/bin/sh -c echo about to fail && exit 3" did not complete successfully: exit code: 3' in out, out
    assert daemon.docker("image", "inspect", "bk-fail").returncode != 0


def test_a_context_cannot_reach_outside_itself(daemon, tmp_path):
    """A symlink travels as a link: naming it resolves inside the context (so /etc/shadow is
    not there), a directory COPY keeps it a link; `..` cannot climb out of the context; a
    missing Dockerfile is an error."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY shadow /copied\n")
    os.symlink("/etc/shadow", tmp_path / "shadow")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: bk-esc\n")
    r = compose(daemon, tmp_path, "-p", "bke", "build")
    assert r.returncode != 0 and "shadow: file does not exist" in r.stdout + r.stderr, r.stdout + r.stderr
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx\nCOPY ../../../etc/passwd /p\n")
    r = compose(daemon, tmp_path, "-p", "bke", "build")
    assert r.returncode != 0 and "passwd: file does not exist" in r.stdout + r.stderr, r.stdout + r.stderr
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx\n")
    r = compose(daemon, tmp_path, "-p", "bke", "build")
    assert r.returncode == 0, r.stdout + r.stderr
    assert daemon.docker("run", "--rm", "bk-esc", "readlink", "/ctx/shadow").stdout.strip() == "/etc/shadow"
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: {context: ., dockerfile: Nope}\n    image: bk-esc\n")
    r = compose(daemon, tmp_path, "-p", "bke", "build")
    assert r.returncode != 0 and "Nope" in r.stdout + r.stderr
    daemon.docker("rmi", "bk-esc")


def test_a_client_killed_mid_transfer_leaves_nothing_behind(daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx\n")
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        with open(big / f"f{i}", "wb") as f:
            f.write(os.urandom(1 << 20) * 8)   # 320 MiB in all
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: bk-abort\n")
    images_before = daemon.docker("images", "-q", "--no-trunc").stdout
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_BUILDKIT"}
    env["DOCKER_HOST"] = daemon.host
    p = subprocess.Popen([DOCKER, "compose", "-p", "bka", "build"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(1.5)
    p.kill()
    p.wait()
    tmp = os.path.join(daemon.root, "data", "tmp")
    for _ in range(100):
        if not [n for n in os.listdir(tmp) if n.startswith("bk-solve") or n.startswith("build")]:
            break
        time.sleep(0.1)
    assert [n for n in os.listdir(tmp) if n.startswith("bk-solve") or n.startswith("build")] == []
    assert daemon.api("GET", "/_ping")[0] == 200
    assert daemon.docker("images", "-q", "--no-trunc").stdout == images_before
    assert not os.listdir(os.path.join(daemon.root, "run", "sessions"))


MOUNTS = """FROM busybox
ARG BUST=1
RUN --mount=type=secret,id=token test "$(md5sum < /run/secrets/token | cut -c1-32)" = "{md5}" && echo secret-file-ok
RUN --mount=type=secret,id=token,env=TOKEN test "$(echo -n "$TOKEN" | md5sum | cut -c1-32)" = "{md5}" && echo secret-env-ok
RUN --mount=type=cache,target=/cache,sharing=locked echo run >> /cache/log && wc -l < /cache/log > /count
RUN --mount=type=tmpfs,target=/scratch touch /scratch/x && echo tmpfs-ok
RUN --mount=type=bind,source=data.txt,target=/mnt/data grep -q payload /mnt/data && echo bind-ok
"""


def test_run_mounts_secrets_caches_tmpfs_and_binds(daemon, tmp_path):
    """A secret is readable during RUN (as a file and as an environment variable) and absent
    from every layer, the history and inspect; a cache mount keeps its files for the next
    build and out of the image; the mounts' targets leave no stubs behind."""
    import hashlib
    secret = "tok-" + os.urandom(8).hex()
    (tmp_path / "token.txt").write_text(secret)
    (tmp_path / "data.txt").write_text("payload\n")
    (tmp_path / "Dockerfile").write_text(MOUNTS.replace("{md5}", hashlib.md5(secret.encode()).hexdigest()))
    compose_file = ("services:\n  app:\n    build:\n      context: .\n      secrets: [token]\n      args: {BUST: \"%s\"}\n    image: bk-mounts\n"
                    "secrets:\n  token:\n    file: ./token.txt\n")
    (tmp_path / "compose.yaml").write_text(compose_file % "1")
    r = compose(daemon, tmp_path, "-p", "bkm", "build")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    for word in ["secret-file-ok", "secret-env-ok", "tmpfs-ok", "bind-ok"]:
        assert word in out, out
    assert daemon.docker("run", "--rm", "bk-mounts", "cat", "/count").stdout.strip() == "1"
    for path in ["/run/secrets", "/cache", "/scratch", "/mnt/data"]:
        assert daemon.docker("run", "--rm", "bk-mounts", "ls", path).returncode != 0, path
    saved = subprocess.run([DOCKER, "save", "bk-mounts"], env=dict(os.environ, DOCKER_HOST=daemon.host), capture_output=True).stdout
    assert len(saved) > 100_000 and secret.encode() not in saved
    assert secret not in daemon.docker("history", "--no-trunc", "bk-mounts").stdout
    assert secret not in daemon.docker("image", "inspect", "bk-mounts").stdout
    # A new build (the build arg changes every step's key) finds the cache mount's files.
    (tmp_path / "compose.yaml").write_text(compose_file % "2")
    r = compose(daemon, tmp_path, "-p", "bkm", "build")
    assert r.returncode == 0, r.stdout + r.stderr
    assert daemon.docker("run", "--rm", "bk-mounts", "cat", "/count").stdout.strip() == "2"
    # The cache mount is a build cache record (system df), and `docker builder prune` removes it.
    caches = [c for c in json.loads(daemon.api("GET", "/system/df")[2])["BuildCache"] if "mount /cache from exec" in c["Description"]]
    assert len(caches) == 1 and caches[0]["Type"] == "exec.cachemount" and caches[0]["UsageCount"] == 2 and caches[0]["Size"] > 0, caches
    assert "Build Cache" in daemon.docker("system", "df").stdout
    pruned = daemon.docker("builder", "prune", "-f")
    assert pruned.returncode == 0 and caches[0]["ID"] in pruned.stdout, pruned.stdout + pruned.stderr
    assert not [c for c in json.loads(daemon.api("GET", "/system/df")[2])["BuildCache"] if "mount /cache from exec" in c["Description"]]
    (tmp_path / "compose.yaml").write_text(compose_file % "3")
    assert compose(daemon, tmp_path, "-p", "bkm", "build").returncode == 0
    assert daemon.docker("run", "--rm", "bk-mounts", "cat", "/count").stdout.strip() == "1"
    # Without the secret: a required one fails the step in BuildKit's words.
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=secret,id=missing,required cat /run/secrets/missing\n")
    r = compose(daemon, tmp_path, "-p", "bkm", "build")
    assert r.returncode != 0 and "secret missing: not found" in r.stdout + r.stderr, r.stdout + r.stderr
    # Flags Berth's builder does not implement are refused, never ignored.
    for flag, words in [("--mount=type=cache,from=x,target=/x", "from=… is not supported"), ("--network=host", "network.host is not allowed"),
                        ("--security=insecure", "security.insecure is not allowed"), ("--frobnicate=1", "unknown flag: frobnicate"),
                        # A field with no key trapped the daemon (found by the dockerfile fuzzer).
                        ("--mount==", "unexpected key ''")]:
        (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN {flag} true\n")
        r = compose(daemon, tmp_path, "-p", "bkm", "build")
        assert r.returncode != 0 and words in r.stdout + r.stderr, (flag, r.stdout + r.stderr)
    daemon.docker("rmi", "bk-mounts")


SIDE_BY_SIDE = """FROM busybox AS base
ENV APP=/app
WORKDIR /app
RUN echo base > base.txt
FROM base AS final
COPY --chmod=0640 conf/ /app/conf/
COPY run.sh /usr/local/bin/run.sh
RUN --mount=type=cache,target=/var/cache/x echo cached > /var/cache/x/f && mkdir -p /data && echo data > /data/d
LABEL org.example.team=builders
EXPOSE 8080/tcp
USER 1000:1000
CMD ["run.sh"]
"""


def test_compose_v2_builds_the_same_image_on_berth_and_dockerd(daemon, dockerd, tmp_path):
    """The same project built through BuildKit's API by Compose v2 on both daemons: the image
    configs (the runtime fields) and file trees (paths, types, modes, owners, sizes, contents)
    agree."""
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from test_build import fs_listing
    from conftest import busybox_tar
    busybox_tar(str(tmp_path / "bb.tar"))
    subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {tmp_path}/bb.tar busybox:latest", shell=True, env=dockerd, check=True, capture_output=True)
    ctx = tmp_path / "ctx"
    (ctx / "conf").mkdir(parents=True)
    (ctx / "conf" / "a.ini").write_text("a=1\n")
    (ctx / "conf" / "b.ini").write_text("b=2\n")
    (ctx / "conf" / "sub").mkdir()
    (ctx / "conf" / "sub" / "c.ini").write_text("c=3\n")
    (ctx / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(ctx / "run.sh", 0o755)
    (ctx / "Dockerfile").write_text(SIDE_BY_SIDE)
    # The test dockerd runs without a bridge: RUN steps without a network on both.
    (ctx / "compose.yaml").write_text("services:\n  app:\n    build: {context: ., network: none}\n    image: bk-side\n")
    for env in [dockerd, dict(os.environ, DOCKER_HOST=daemon.host)]:
        e = {k: v for k, v in env.items() if k != "DOCKER_BUILDKIT"}
        r = subprocess.run([DOCKER, "compose", "-p", "side", "build"], cwd=ctx, env=e, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    berth_env = dict(os.environ, DOCKER_HOST=daemon.host)

    def config(env):
        c = json.loads(subprocess.run([DOCKER, "image", "inspect", "bk-side"], env=env, capture_output=True, text=True, check=True).stdout)[0]["Config"]
        labels = {k: v for k, v in (c.get("Labels") or {}).items() if k != "com.docker.compose.version"}
        return {k: c.get(k) or None for k in ["Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes"]}, labels

    assert config(berth_env) == config(dockerd)
    a, b = fs_listing(dockerd, "bk-side"), fs_listing(berth_env, "bk-side")
    # Every entry agrees, except that dockerd 20.10's BuildKit (v0.8) leaves a cache mount's
    # target behind as an empty directory, which BuildKit since removes (and Berth does not make).
    diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k) and not k.startswith(("tmp", "root", "var/cache"))}
    assert not diff, diff
    daemon.docker("rmi", "bk-side")


@pytest.mark.skipif(not os.path.exists("/usr/bin/docker"), reason="Debian's docker 20.10 client not installed")
def test_the_20_10_cli_builds_through_build_version_2(daemon, tmp_path):
    """`/_ping` says Builder-Version 2, so the docker 20.10 client builds with its own BuildKit
    client: POST /session, then POST /build?version=2&remote=client-session, progress as
    moby.buildkit.trace aux messages, the image id as moby.image.id."""
    assert daemon.api("GET", "/_ping")[1]["builder-version"] == "2"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nARG WHO\nCOPY hello.txt /\nRUN echo \"$WHO\" > /who\n")
    (tmp_path / "hello.txt").write_text("hello\n")
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    env.pop("DOCKER_BUILDKIT", None)
    r = subprocess.run(["/usr/bin/docker", "build", "-t", "old-cli", "--build-arg", "WHO=bk", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[3/4] COPY hello.txt /" in r.stderr and "naming to docker.io/library/old-cli:latest" in r.stderr, r.stderr
    assert daemon.docker("run", "--rm", "old-cli", "cat", "/hello.txt", "/who").stdout == "hello\nbk\n"
    q = subprocess.run(["/usr/bin/docker", "build", "-q", "--build-arg", "WHO=bk", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert q.returncode == 0 and q.stdout.strip() == daemon.docker("image", "inspect", "old-cli", "--format", "{{.Id}}").stdout.strip()
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 7\n")
    r = subprocess.run(["/usr/bin/docker", "build", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "exit code: 7" in r.stderr, r.stderr
    # Without a session the request is refused in words, not treated as a legacy build.
    status, _, body = daemon.api("POST", "/build?version=2")
    assert status == 400 and b"session" in body
    daemon.docker("rmi", "old-cli")


def test_independent_stages_build_at_once(daemon, tmp_path):
    """BuildKit's scheduling: two stages that do not use each other run together, so the
    build takes about one stage's time, not the sum; the stage that copies from both waits for
    them."""
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS a\nARG N\nRUN sleep 4 && echo a$N > /a\n"
        "FROM busybox AS b\nARG N\nRUN sleep 4 && echo b$N > /b\n"
        "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n")
    n = os.urandom(4).hex()
    (tmp_path / "compose.yaml").write_text(f"services:\n  app:\n    build:\n      context: .\n      args: {{N: \"{n}\"}}\n    image: bk-par\n")
    t = time.time()
    r = compose(daemon, tmp_path, "-p", "bkp", "build")
    took = time.time() - t
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 8, took   # one after the other, the stages' sleeps alone take 8 s
    assert daemon.docker("run", "--rm", "bk-par", "cat", "/a", "/b").stdout == f"a{n}\nb{n}\n"
    daemon.docker("rmi", "bk-par")


@pytest.mark.skipif(not shutil.which("ssh-agent") or not os.path.exists("/usr/bin/ssh-add"), reason="openssh-client not installed")
def test_ssh_mounts_forward_the_clients_agent(daemon, tmp_path):
    """`RUN --mount=type=ssh` with Compose's `ssh: [default]`: the step talks to the client's
    ssh agent through a socket at $SSH_AUTH_SOCK (the host's ssh-add, with its libraries,
    lists the agent's key from inside the build); the key never leaves the client and the
    socket leaves nothing in the image. Without an agent, a required ssh mount fails."""
    libs = tmp_path / "libs"
    libs.mkdir()
    out = subprocess.run(["ldd", "/usr/bin/ssh-add"], capture_output=True, text=True, check=True).stdout
    for path in ["/usr/bin/ssh-add"] + re.findall(r"(/lib[^ ]+)", out):
        shutil.copy(path, libs / os.path.basename(path))
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nCOPY libs /libs\n"
        "RUN --mount=type=ssh,required /libs/ld-linux-x86-64.so.2 --library-path /libs /libs/ssh-add -l > /keys && test -S \"$SSH_AUTH_SOCK\"\n")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build:\n      context: .\n      ssh: [default]\n    image: bk-ssh\n")
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    env.pop("DOCKER_BUILDKIT", None)
    for k, v in re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", agent):
        env[k] = v
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-ssh-test", "-f", str(tmp_path / "key")], check=True)
        subprocess.run(["ssh-add", str(tmp_path / "key")], env=env, check=True, capture_output=True)
        r = subprocess.run([DOCKER, "compose", "-p", "bks", "build"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "berth-ssh-test (ED25519)" in daemon.docker("run", "--rm", "bk-ssh", "cat", "/keys").stdout
        assert daemon.docker("run", "--rm", "bk-ssh", "ls", "/run/buildkit").returncode != 0
        assert not [n for n in os.listdir(os.path.join(daemon.root, "data", "tmp")) if n.startswith("build-ssh")]
    finally:
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True)
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: bk-ssh\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=ssh,required true\n")
    r = compose(daemon, tmp_path, "-p", "bks", "build")
    assert r.returncode != 0 and 'no SSH key "default" forwarded from the client' in r.stdout + r.stderr, r.stdout + r.stderr
    daemon.docker("rmi", "bk-ssh")


def test_bind_mounts_from_a_stage_and_binds_key_the_cache(daemon, tmp_path):
    """`RUN --mount=type=bind,from=<stage>` shows that stage's files read-only (the stage's
    image keys the step); a bind of context files keys the step by their contents, so a
    changed go.mod reruns the step that reads it (it was taken from the cache before)."""
    (tmp_path / "go.mod").write_text("module one\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS builder\nARG V=1\nRUN mkdir /out && echo built-$V > /out/artifact\n"
        "FROM busybox\n"
        "RUN --mount=type=bind,from=builder,source=/out,target=/in cat /in/artifact > /got && (touch /in/x 2>/dev/null && echo rw || echo ro) >> /got\n"
        "RUN --mount=type=bind,source=go.mod,target=/src/go.mod cat /src/go.mod > /mod\n")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: {context: ., args: {V: \"1\"}}\n    image: bk-bindfrom\n")
    r = compose(daemon, tmp_path, "-p", "bkb", "build")
    assert r.returncode == 0, r.stdout + r.stderr
    assert daemon.docker("run", "--rm", "bk-bindfrom", "cat", "/got", "/mod").stdout == "built-1\nro\nmodule one\n"
    # The bound context file changes: the step that reads it runs again.
    (tmp_path / "go.mod").write_text("module two\n")
    assert compose(daemon, tmp_path, "-p", "bkb", "build").returncode == 0
    assert daemon.docker("run", "--rm", "bk-bindfrom", "cat", "/mod").stdout == "module two\n"
    # The stage it binds from changes: the binding step runs again.
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: {context: ., args: {V: \"2\"}}\n    image: bk-bindfrom\n")
    assert compose(daemon, tmp_path, "-p", "bkb", "build").returncode == 0
    assert daemon.docker("run", "--rm", "bk-bindfrom", "cat", "/got").stdout == "built-2\nro\n"
    # A source that is not in the stage is not found; nothing is left mounted.
    (tmp_path / "Dockerfile").write_text("FROM busybox AS b\nFROM busybox\nRUN --mount=type=bind,from=b,source=/nope,target=/in true\n")
    r = compose(daemon, tmp_path, "-p", "bkb", "build")
    assert r.returncode != 0 and "not found" in r.stdout + r.stderr, r.stdout + r.stderr
    daemon.docker("rmi", "bk-bindfrom")


def test_a_cancelled_build_stops_its_running_steps(daemon, tmp_path):
    """Killing the client stops the RUN steps it started (both stages' when they run at once),
    instead of letting them run to their end; the legacy endpoint does the same."""
    def sleeping():
        return subprocess.run(["pgrep", "-f", "^sleep 3737"], capture_output=True, text=True).stdout.split()

    def within(seconds, condition):
        for _ in range(int(seconds * 10)):
            if condition():
                return True
            time.sleep(0.1)
        return condition()

    (tmp_path / "Dockerfile").write_text("FROM busybox AS a\nRUN sleep 3737 && echo a\nFROM busybox AS b\nRUN sleep 3737 && echo b\n"
                                         "FROM busybox\nCOPY --from=a /etc/hostname /a\nCOPY --from=b /etc/hostname /b\n")
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n    image: bk-cancel\n")
    env = {k: v for k, v in os.environ.items() if k != "DOCKER_BUILDKIT"}
    env["DOCKER_HOST"] = daemon.host
    p = subprocess.Popen([DOCKER, "compose", "-p", "bkc", "build"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert within(10, lambda: len(sleeping()) == 2)
    p.kill()
    p.wait()
    assert within(5, lambda: sleeping() == []), sleeping()   # before: they ran on for the hour
    # The legacy endpoint: the client goes away mid-RUN.
    p = subprocess.Popen([os.path.join(BIN, "berth"), "-H", daemon.host, "build", "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p.stdin.write(b"FROM busybox\nRUN sleep 3737\n")
    p.stdin.close()
    assert within(10, lambda: len(sleeping()) == 1)
    p.kill()
    p.wait()
    assert within(5, lambda: sleeping() == []), sleeping()
    assert daemon.api("GET", "/_ping")[0] == 200
