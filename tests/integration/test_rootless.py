"""Rootless berthd (issue 13): an ordinary user starts berthd with no flag and drives it with the
docker CLI: run, build, publish, volume, exec. The daemon is root only in the user's namespace
(its /etc/subuid range), its network is slirp4netns, its paths are the user's, and a
container's root cannot write what the host's root owns."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import BIN, DOCKER, REPO, wait_for_socket

USER = "berth-rootless"


def as_user(uid, *argv, env=None, timeout=120, input=None):
    pw = pwd.getpwuid(uid)
    e = {"HOME": pw.pw_dir, "XDG_RUNTIME_DIR": f"/run/user/{uid}", "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
         "DOCKER_HOST": f"unix:///run/user/{uid}/berth.sock", "DOCKER_CONFIG": pw.pw_dir + "/.docker"}
    e.update(env or {})
    return subprocess.run(["runuser", "-u", pw.pw_name, "--", "env", "-i"] + [f"{k}={v}" for k, v in e.items()] + list(argv),
                          capture_output=True, text=True, timeout=timeout, input=input)


def ppid(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def user_processes(uid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = os.stat(f"/proc/{p}")
                comm = open(f"/proc/{p}/comm").read().strip()
            except OSError:
                continue
            if st.st_uid == uid:
                out.append((int(p), comm))
    return out


class Rootless:
    """A user's rootless berthd. Making one kills whatever that user still runs: tests that
    start and stop their own daemon use another user than the module's."""
    def __init__(self, busybox, user=USER):
        subprocess.run([os.path.join(REPO, "scripts", "rootless-setup"), user, "--create"], check=True, capture_output=True)
        self.user = user
        self.uid = pwd.getpwnam(user).pw_uid
        self.home = pwd.getpwnam(user).pw_dir
        for p, _ in user_processes(self.uid):
            os.kill(p, signal.SIGKILL)
        # The user cannot read the build tree of every checkout: a copy of the binaries it can.
        self.bindir = tempfile.mkdtemp(prefix="bt-rl-bin-", dir="/tmp")
        os.chmod(self.bindir, 0o755)
        for b in ("berthd", "berth-shim", "berth-exec", "berth"):
            shutil.copy(os.path.join(BIN, b), self.bindir)
        self.image = os.path.join(self.bindir, "busybox.tar")
        shutil.copy(busybox, self.image)
        os.chmod(self.image, 0o644)
        # A fresh data root (its files belong to the subordinate range, which the user cannot
        # remove itself, as with dockerd-rootless).
        shutil.rmtree(self.home + "/.local/share/berth", ignore_errors=True)
        self.sock = f"/run/user/{self.uid}/berth.sock"
        self.log = open(os.path.join(self.bindir, "berthd.log"), "wb")

    def start(self):
        pw = pwd.getpwuid(self.uid)
        env = ["HOME=" + pw.pw_dir, f"XDG_RUNTIME_DIR=/run/user/{self.uid}", "PATH=/usr/bin:/bin:/usr/sbin:/sbin"]
        self.proc = subprocess.Popen(["runuser", "-u", self.user, "--", "env", "-i"] + env + [self.bindir + "/berthd"],
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        if wait_for_socket(self.sock, self.proc):
            return self
        raise RuntimeError("rootless berthd did not start: " + open(self.log.name).read())

    def docker(self, *args, check=False, **kw):
        r = as_user(self.uid, DOCKER, *args, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({r.returncode}): {r.stdout} {r.stderr}")
        return r

    def stop(self, remove=True):
        ids = self.docker("ps", "-aq").stdout.split()
        if ids and remove:
            self.docker("rm", "-f", *ids)
        # SIGTERM to the daemon itself (the parent half, runuser's child), as systemd would send
        # it; runuser then exits with it.
        parent = [p for p, c in user_processes(self.uid) if c == "berthd" and ppid(p) == self.proc.pid]
        for p in parent:
            os.kill(p, signal.SIGTERM)
        self.proc.wait(timeout=30)

    def cleanup(self):
        for p, _ in user_processes(self.uid):
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(self.bindir, ignore_errors=True)
        shutil.rmtree(self.home + "/.local/share/berth", ignore_errors=True)


@pytest.fixture(scope="module")
def rootless(busybox):
    r = Rootless(busybox).start()
    r.docker("import", "-c", 'CMD ["sh"]', r.image, "busybox:latest", check=True)
    yield r
    try:
        r.stop()
    finally:
        r.cleanup()


@pytest.fixture()
def shared_dir():
    """A directory the user can reach (pytest's tmp_path is root's alone)."""
    d = tempfile.mkdtemp(prefix="bt-rl-", dir="/tmp")
    os.chmod(d, 0o755)
    yield __import__("pathlib").Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_an_ordinary_users_berthd_is_rootless_with_the_users_paths(rootless):
    r = rootless
    # The daemon's processes are the user's; no process of the user's is root on the host.
    procs = user_processes(r.uid)
    assert any(c == "berthd" for _, c in procs) and any(c == "slirp4netns" for _, c in procs)
    st = os.stat(r.sock)
    assert st.st_uid == r.uid and st.st_mode & 0o077 == 0o060 & st.st_mode
    info = r.docker("info", "--format", "{{.DockerRootDir}}|{{json .SecurityOptions}}|{{.CgroupDriver}}", check=True).stdout.strip()
    root, options, driver = info.split("|")
    assert root == r.home + "/.local/share/berth"
    assert "name=rootless" in options and driver == "none"
    # this host is hybrid (cgroup v1 controllers): no delegation, and the daemon says so
    assert "resource limits disabled: the host does not use cgroup v2 alone" in open(r.log.name).read()
    # Root inside is the user outside; 1… the user's subordinate range.
    start, count = next((int(l.split(":")[1]), int(l.split(":")[2])) for l in open("/etc/subuid") if l.startswith(USER + ":"))
    out = r.docker("run", "--rm", "busybox", "cat", "/proc/self/uid_map", check=True).stdout.split()
    assert out == ["0", str(r.uid), "1", "1", str(start), str(count)]


def test_run_build_publish_volume_and_exec_as_the_user(rootless, shared_dir):
    r = rootless
    tmp_path = shared_dir
    assert r.docker("run", "--rm", "busybox", "echo", "hello from rootless", check=True).stdout == "hello from rootless\n"
    # build
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY greeting /greeting\nRUN mkdir /www && cp /greeting /www/index.html\n"
                                   "CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n")
    (ctx / "greeting").write_text("built rootless\n")
    os.chmod(ctx, 0o755)
    for f in ctx.iterdir():
        os.chmod(f, 0o644)
    r.docker("build", "-q", "-t", "rl-web", str(ctx), check=True)
    # a volume, then publish a port and reach it from the host
    port = free_port()
    r.docker("run", "--rm", "-v", "rl-data:/data", "busybox", "sh", "-c", "echo kept > /data/f", check=True)
    r.docker("run", "-d", "--name", "rl-web", "-p", f"{port}:8080", "-v", "rl-data:/data", "rl-web", check=True)
    body = None
    for _ in range(50):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
            break
        except OSError:
            time.sleep(0.1)
    assert body == "built rootless\n"
    # exec sees the volume's contents written by an earlier container
    assert r.docker("exec", "rl-web", "cat", "/data/f", check=True).stdout == "kept\n"
    assert r.docker("exec", "rl-web", "id", "-u", check=True).stdout == "0\n"
    assert r.docker("port", "rl-web", check=True).stdout.strip() == f"8080/tcp -> 0.0.0.0:{port}"
    r.docker("rm", "-f", "rl-web", check=True)
    # the host port is closed again once the container is gone
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    r.docker("volume", "rm", "rl-data", check=True)


def test_root_in_a_rootless_container_cannot_write_a_root_owned_host_file(rootless, shared_dir):
    """The escape test: a root-owned host file bound into the container, whose root (uid 0
    inside, the user outside) can neither write, chmod, chown nor remove it."""
    r = rootless
    tmp_path = shared_dir
    victim = tmp_path / "victim"
    victim.write_text("host data\n")
    os.chmod(victim, 0o644)
    out = r.docker("run", "--rm", "-v", f"{tmp_path}:/host", "busybox", "sh", "-c",
                   "echo pwned > /host/victim; echo w=$?; chmod 666 /host/victim; echo m=$?; chown 0:0 /host/victim; echo o=$?;"
                   " rm -f /host/victim; echo r=$?; echo x > /host/new; echo n=$?; ls -ln /host/victim")
    assert "w=1" in out.stdout and "m=1" in out.stdout and "o=1" in out.stdout and "r=1" in out.stdout and "n=1" in out.stdout, out
    # the file is nobody's inside (the host's root is not mapped)
    assert " 65534 " in out.stdout
    assert victim.read_text() == "host data\n" and os.stat(victim).st_mode & 0o777 == 0o644
    assert not (tmp_path / "new").exists()


def test_limits_are_discarded_with_dockerds_warning(rootless):
    """No cgroup to enforce them (the degraded mode): the container runs, the client is told."""
    r = rootless
    out = r.docker("run", "--rm", "--memory", "64m", "--pids-limit", "50", "busybox", "echo", "ran")
    assert out.returncode == 0 and out.stdout == "ran\n"
    assert "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded." in out.stderr
    assert "PIDs limit discarded" in out.stderr


def test_a_clean_stop_leaves_nothing_of_the_users_running(busybox):
    r = Rootless(busybox, user="berth-rootless-b").start()
    try:
        r.docker("import", r.image, "busybox:latest", check=True)
        port = free_port()
        r.docker("run", "-d", "--name", "sleeper", "-p", f"{port}:80", "busybox", "sleep", "300", check=True)
        # Its namespaces end with the daemon: a clean stop stops the container (as dockerd
        # without live-restore) and takes the shim, slirp4netns and the published port along.
        r.stop(remove=False)
        for _ in range(50):   # a shim reparented to init is reaped by it shortly after
            if user_processes(r.uid) == []:
                break
            time.sleep(0.1)
        assert user_processes(r.uid) == []
        assert not os.path.exists(r.sock)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        r.start()
        assert r.docker("ps", "-a", "--format", "{{.Names}} {{.State}}", check=True).stdout == "sleeper exited\n"
    finally:
        r.cleanup()


def test_an_unprepared_user_gets_a_clear_error():
    """A user without a subordinate range is told what to do, not left with a half-started daemon."""
    subprocess.run(["useradd", "--create-home", "berth-nosubid"], capture_output=True)
    uid = pwd.getpwnam("berth-nosubid").pw_uid
    # useradd hands out ranges itself where /etc/subuid exists: take them away again.
    for f in ("/etc/subuid", "/etc/subgid"):
        lines = [l for l in open(f) if not l.startswith(("berth-nosubid:", f"{uid}:"))]
        open(f, "w").write("".join(lines))
    os.makedirs(f"/run/user/{uid}", exist_ok=True)
    os.chown(f"/run/user/{uid}", uid, uid)
    bindir = tempfile.mkdtemp(prefix="bt-rl-bin-", dir="/tmp")
    os.chmod(bindir, 0o755)
    shutil.copy(os.path.join(BIN, "berthd"), bindir)
    try:
        out = as_user(uid, bindir + "/berthd", timeout=30)
        assert out.returncode == 1
        assert "no subuid ranges found" in out.stderr and "scripts/rootless-setup" in out.stderr, out.stderr
    finally:
        shutil.rmtree(bindir, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def test_overlay_marks_work_in_the_user_namespace(rootless, shared_dir):
    """overlayfs in a user namespace keeps its marks in user.* xattrs (mounted `userxattr`):
    removing a directory of a lower layer failed with EIO, and a layer's opaque directory let
    the lower one's files show through."""
    r = rootless
    out = r.docker("run", "--rm", "busybox", "sh", "-c", "rm -rf /home /usr/sbin && echo removed && ls / | grep -c home")
    assert out.stdout.startswith("removed\n0") and "Input/output error" not in out.stderr, out
    (shared_dir / "Dockerfile").write_text("FROM busybox\nRUN mkdir -p /d && touch /d/old\nRUN rm -rf /d && mkdir /d && touch /d/new\n")
    os.chmod(shared_dir / "Dockerfile", 0o644)
    r.docker("build", "-q", "-t", "rl-opaque", str(shared_dir), check=True)
    assert r.docker("run", "--rm", "rl-opaque", "ls", "/d", check=True).stdout == "new\n"
    # and the image's layer says so for any other daemon (an opaque-directory whiteout)
    save = subprocess.run(["runuser", "-u", USER, "--", "env", f"DOCKER_HOST=unix://{r.sock}", DOCKER, "save", "rl-opaque"],
                          capture_output=True, timeout=60)
    assert b".wh..wh..opq" in save.stdout


def test_compose_v2_as_the_user(rootless, shared_dir):
    """Compose v2 on the rootless daemon: a built service behind a published port waits for a
    healthy dependency and reaches it by name on the project's network."""
    r = rootless
    (shared_dir / "web").mkdir()
    (shared_dir / "web" / "Dockerfile").write_text("FROM busybox\nRUN mkdir /www && echo rootless-compose > /www/index.html\n")
    port = free_port()
    (shared_dir / "compose.yaml").write_text(f"""
services:
  db:
    image: busybox
    command: ["sh", "-c", "touch /tmp/ready; exec httpd -f -p 80 -h /tmp"]
    healthcheck: {{test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 10}}
  web:
    build: ./web
    image: rl-compose-web
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    depends_on: {{db: {{condition: service_healthy}}}}
    ports: ["{port}:80"]
""")
    for p in [shared_dir / "web", shared_dir / "web" / "Dockerfile", shared_dir / "compose.yaml"]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)

    def compose(*args):
        return as_user(r.uid, "sh", "-c", f"cd {shared_dir} && exec {DOCKER} compose -p rlc " + " ".join(args), env={"DOCKER_BUILDKIT": "0"})

    try:
        up = compose("up", "-d", "--wait")
        assert up.returncode == 0, up.stderr
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"rootless-compose\n"
        probe = compose("exec", "-T", "web", "wget", "-qO-", "http://db/ready")
        assert probe.returncode == 0, probe.stderr   # the name resolves and the service answers (an empty file)
    finally:
        assert compose("down").returncode == 0
