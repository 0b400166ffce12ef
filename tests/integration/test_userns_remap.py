"""daemon.json `userns-remap` (issue 12, item 8): containers' root is a subordinate id of the
`dockremap` user, layers are shown to it through idmapped mounts, and everything the host does
with a container's files (cp, commit, export, build) speaks the container's ids."""
import io
import json
import os
import subprocess
import tarfile
import time

import pytest

from conftest import BIN, DOCKER, Daemon


def subrange(name):
    for line in open("/etc/subuid"):
        user, start, count = line.strip().split(":")
        if user == name:
            return int(start), int(count)
    return None


@pytest.fixture(scope="module")
def remapped(busybox):
    d = Daemon(config={"userns-remap": "default"})
    os.chmod(d.root, 0o711)   # the remapped root must be able to pass through to its files
    d.start()
    d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
    yield d
    d.stop()


def test_containers_run_as_the_subordinate_range(remapped):
    d = remapped
    start, count = subrange("dockremap")
    assert count >= 65536
    out = d.docker("run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; ls -ln /bin/sh").stdout
    lines = out.split("\n")
    assert lines[0].split() == ["0", str(start), str(count)] and lines[1].split() == ["0", str(start), str(count)]
    assert lines[2] == "0" and " 0        0 " in lines[3]   # image files are root's inside
    info = json.loads(d.docker("info", "--format", "{{json .SecurityOptions}}").stdout)
    assert "name=userns" in info
    # files written by the container's root are the range's on the host
    d.docker("run", "-d", "--name", "writer", "busybox", "sh", "-c", "echo x > /by-root; sleep 300", check=True)
    cid = d.docker("inspect", "-f", "{{.Id}}", "writer").stdout.strip()
    time.sleep(0.5)
    st = os.stat(f"{d.root}/data/{start}.{start}/containers/{cid}/upper/by-root")
    assert (st.st_uid, st.st_gid) == (start, start)
    # exec joins the same user namespace
    assert d.docker("exec", "writer", "cat", "/proc/self/uid_map").stdout.split() == ["0", str(start), str(count)]
    assert d.docker("exec", "writer", "id", "-u").stdout.strip() == "0"
    d.docker("rm", "-f", "writer", check=True)


def test_root_in_the_container_cannot_write_a_root_owned_host_file(remapped, tmp_path):
    """The escape test: a bind mount of a root-owned host file reaches the container, and its
    root — uid 0 inside — cannot write it, nor chown or chmod it."""
    d = remapped
    os.chmod(tmp_path, 0o755)
    target = tmp_path / "host-owned"
    target.write_text("host\n")
    os.chmod(target, 0o644)
    r = d.docker("run", "--rm", "-v", f"{tmp_path}:/h", "busybox", "sh", "-c",
                 "ls -ln /h/host-owned; echo pwned >> /h/host-owned; echo w=$?; chmod 666 /h/host-owned; echo m=$?; "
                 "chown 0 /h/host-owned; echo o=$?; rm /h/host-owned; echo r=$?")
    assert "65534" in r.stdout                          # the host's root is nobody inside
    assert "w=1" in r.stdout and "m=1" in r.stdout and "o=1" in r.stdout and "r=1" in r.stdout, r.stdout + r.stderr
    assert target.read_text() == "host\n" and (os.stat(target).st_mode & 0o777) == 0o644 and os.stat(target).st_uid == 0


def test_archives_build_and_volumes_use_the_containers_ids(remapped, tmp_path):
    d = remapped
    start, _ = subrange("dockremap")
    d.docker("run", "-d", "--name", "arch", "-v", "remapvol:/vol", "busybox", "sh", "-c",
             "echo x > /mine && chown 1000:1000 /mine && touch /vol/inside; sleep 300", check=True)
    time.sleep(0.5)
    f = tmp_path / "in"
    f.write_text("in")
    assert d.docker("cp", str(f), "arch:/tmp/in").returncode == 0
    assert d.docker("exec", "arch", "stat", "-c", "%u:%g", "/tmp/in").stdout.strip() == "0:0"
    tar = tarfile.open(fileobj=io.BytesIO(subprocess.run(
        [DOCKER, "cp", "arch:/mine", "-"], env=dict(os.environ, DOCKER_HOST=d.host), capture_output=True).stdout))
    assert [(m.name, m.uid, m.gid) for m in tar.getmembers()] == [("mine", 1000, 1000)]
    exported = subprocess.run([DOCKER, "export", "arch"], env=dict(os.environ, DOCKER_HOST=d.host), capture_output=True).stdout
    owners = {m.name: (m.uid, m.gid) for m in tarfile.open(fileobj=io.BytesIO(exported)).getmembers()}
    assert owners["mine"] == (1000, 1000) and owners["bin/sh"] == (0, 0) and owners["tmp/in"] == (0, 0)
    d.docker("commit", "arch", "remapped:1", check=True)
    assert d.docker("run", "--rm", "remapped:1", "stat", "-c", "%u:%g", "/mine").stdout.strip() == "1000:1000"
    vol = json.loads(d.docker("volume", "inspect", "remapvol").stdout)[0]["Mountpoint"]
    assert os.stat(vol).st_uid == start and os.stat(vol + "/inside").st_uid == start
    # a build: RUN as the remapped root, COPY with --chown, layers in the image's ids
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "f").write_text("f")
    (tmp_path / "ctx" / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir /app && echo r > /app/r && chown 33:33 /app/r\nCOPY --chown=7:7 f /app/f\n")
    d.berth("build", "-q", "-t", "rb:1", str(tmp_path / "ctx"), check=True)
    assert d.docker("run", "--rm", "rb:1", "stat", "-c", "%n %u", "/app", "/app/r", "/app/f").stdout.split("\n")[:3] == \
        ["/app 0", "/app/r 33", "/app/f 7"]
    d.docker("rm", "-f", "arch", check=True)


def test_what_a_remapped_root_cannot_have_is_refused(remapped):
    d = remapped
    for args, words in ((["--privileged"], "privileged mode is incompatible with user namespaces"),
                        (["--network", "host"], "Cannot share the host's network namespace when user namespaces are enabled"),
                        (["--pid", "host"], "Cannot share the host PID namespace when user namespaces are enabled")):
        r = d.docker("run", "--rm", *args, "busybox", "true")
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
    # --userns=host opts one container out, as with dockerd
    assert d.docker("run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map").stdout.split() == ["0", "0", "4294967295"]
    r = d.docker("run", "--rm", "--userns", "private", "busybox", "true")
    assert r.returncode != 0 and "invalid USER mode" in r.stderr


def test_a_graphroot_the_remapped_root_cannot_reach_is_refused_at_start(tmp_path):
    """dockerd's check: a directory above the data root without o+x would stop every container
    start; refused at daemon start instead (and the daemon does not crash doing it)."""
    top = tmp_path / "private"
    (top / "deep").mkdir(parents=True)
    os.chmod(top, 0o700)
    (tmp_path / "daemon.json").write_text(json.dumps({"userns-remap": "default"}))
    r = subprocess.run([os.path.join(BIN, "berthd"), "-H", f"unix://{tmp_path}/s.sock", "--data-root", str(top / "deep" / "data"),
                        "--exec-root", str(tmp_path / "run"), "--config-file", str(tmp_path / "daemon.json")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "restricts access to the remapped root uid/gid" in r.stderr and "Fatal error" not in r.stderr, r.stderr
    # nothing left mounted by the daemon that gave up (its read-only exec helper was)
    assert str(tmp_path) not in open("/proc/mounts").read()


def test_a_missing_working_directory_belongs_to_the_remapped_root(remapped):
    """dockerd makes it as the remapped root (MkdirAllAndChownNew): root's inside, the range's on the host."""
    out = remapped.docker("run", "--rm", "-w", "/made/here", "busybox", "sh", "-c", "pwd; stat -c '%u %g %a' /made /made/here; touch x")
    assert out.returncode == 0 and out.stdout.split("\n")[:3] == ["/made/here", "0 0 755", "0 0 755"], (out.stdout, out.stderr)
