"""Starts real berthd daemons on temporary data roots and sockets, and drives them with the
`berth` CLI, the real docker CLI and docker-py."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("BERTH_BIN", os.path.join(REPO, ".build", "debug"))
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


class Daemon:
    def __init__(self, config=None, args=None, env=None):
        self.root = tempfile.mkdtemp(prefix="bt-", dir="/tmp")
        self.config = config
        self.args = args or []
        self.env = env
        self.sock = os.path.join(self.root, "s.sock")
        self.host = "unix://" + self.sock
        self.proc = None

    def start(self):
        log = open(os.path.join(self.root, "berthd.log"), "ab")
        extra = []
        if self.config is not None:
            with open(self.root + "/daemon.json", "w") as f:
                json.dump(self.config, f)
            extra = ["--config-file", self.root + "/daemon.json"]
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "berthd"), "-H", self.host, "--data-root", self.root + "/data", "--exec-root", self.root + "/run"] + extra + self.args,
            stdout=log, stderr=log, env=dict(os.environ, **(self.env or {})))
        if wait_for_socket(self.sock, self.proc):
            return self
        raise RuntimeError("berthd did not start: " + open(os.path.join(self.root, "berthd.log")).read())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            subprocess.run([os.path.join(BIN, "berth"), "-H", self.host, "rm", "-f"] + self.berth("ps", "-aq").stdout.split(),
                           capture_output=True)
            self.proc.terminate()
            self.proc.wait()
        subprocess.run(["sh", "-c", f"grep ' {self.root}' /proc/mounts | cut -d' ' -f2 | xargs -r umount -l"], check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def run(self, tool, *args, input=None, timeout=60, check=False):
        env = dict(os.environ, DOCKER_HOST=self.host)
        env.pop("BERTH_HOST", None)
        exe = os.path.join(BIN, "berth") if tool == "berth" else DOCKER
        r = subprocess.run([exe, *args], capture_output=True, text=input is None or isinstance(input, str),
                           input=input, env=env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({r.returncode}): {r.stdout} {r.stderr}\n{self.state()}")
        return r

    def state(self):
        """Whether berthd still runs, and the end of its log: a failure's evidence, which the
        fixture's teardown deletes with the daemon's root."""
        alive = "running" if self.proc and self.proc.poll() is None else f"exited ({self.proc.poll() if self.proc else None})"
        try:
            with open(os.path.join(self.root, "berthd.log"), "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 4000))
                tail = f.read().decode(errors="replace")
        except OSError as e:
            tail = str(e)
        return f"berthd {alive}; the end of its log:\n{tail}"

    def berth(self, *args, **kw):
        return self.run("berth", *args, **kw)

    def docker(self, *args, **kw):
        return self.run("docker", *args, **kw)

    def api(self, method, path, body=None, headers=None):
        """A raw HTTP request; returns (status, headers dict, body bytes)."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        data = body if isinstance(body, bytes) else (body or "").encode()
        req = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(data)}\r\n"
        for k, v in (headers or {}).items():
            req += f"{k}: {v}\r\n"
        s.sendall(req.encode() + b"\r\n" + data)
        raw = read_to_end(s)
        s.close()
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        return status, hdrs, rest


def _host_network_state():
    """The veths and berth network namespaces on the host now."""
    links = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    # By name (the state of a link that was already there may change meanwhile).
    return ([re.sub(r"^\d+: ([^:]+):.*", r"\1", l) for l in links.splitlines()],
            [n.split()[0] for n in netns.splitlines() if n.startswith("berth-")])


# What other software (or a run of this suite cut off before its teardown, on a machine that is
# reused) left on the host before this session began: not this run's to answer for.
PREEXISTING_NETWORK_STATE = _host_network_state()


def host_leftovers():
    """veths and berth namespaces on the host that were not there when this session began; the
    kernel frees a namespace (and its veths) shortly after berthd lets go of it, so allow it a
    moment."""
    left = ([], [])
    for _ in range(50):
        links, netns = _host_network_state()
        left = ([l for l in links if l not in PREEXISTING_NETWORK_STATE[0]], [n for n in netns if n not in PREEXISTING_NETWORK_STATE[1]])
        if left == ([], []):
            break
        time.sleep(0.1)
    return left


def wait_for_socket(path, proc, tries=200):
    """Whether a daemon's unix socket accepts connections within tries × 50 ms (False at once
    when the daemon process has exited)."""
    for _ in range(tries):
        if os.path.exists(path):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                s.close()
                return True
            except OSError:
                pass
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def read_to_end(sock):
    """Everything a socket delivers until the peer closes."""
    raw = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return raw
        raw += chunk


def busybox_tar(path):
    subprocess.run(["python3", os.path.join(REPO, "scripts", "busybox-rootfs.py"), path], check=True)
    return path


@pytest.fixture(scope="session")
def busybox(tmp_path_factory):
    return busybox_tar(str(tmp_path_factory.mktemp("img") / "busybox.tar"))


@pytest.fixture(scope="session")
def daemon(busybox):
    d = Daemon().start()
    d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
    yield d
    d.stop()


@pytest.fixture()
def fresh_daemon(busybox):
    """A daemon of its own, for tests that kill it or need an empty store."""
    d = Daemon().start()
    d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
    yield d
    d.stop()


def names(d):
    return d.berth("ps", "-a", "--format", "{{.Names}}").stdout.split()


def run_in_pty(argv, env, keys=(), rows=33, cols=101, timeout=15):
    """Runs argv on a real pseudo-terminal of the given size, typing `keys` (each after a short
    pause); returns (output bytes, exit code)."""
    import fcntl, pty, select, struct, termios
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    pending = list(keys)
    deadline = time.time() + timeout
    next_key = time.time() + 1.0
    while time.time() < deadline:
        if pending and time.time() >= next_key:
            os.write(fd, pending.pop(0))
            next_key = time.time() + 0.5
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
    _, status = os.waitpid(pid, 0)
    return out, os.waitstatus_to_exitcode(status)


@pytest.fixture()
def dockerd():
    if not shutil.which("dockerd"):
        pytest.skip("dockerd not installed")
    root = tempfile.mkdtemp(prefix="dk-", dir="/tmp")
    sock = root + "/d.sock"
    proc = subprocess.Popen(["dockerd", "-H", "unix://" + sock, "--data-root", root + "/data", "--exec-root", root + "/run",
                             "--pidfile", root + "/pid", "--bridge", "none", "--iptables=false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, DOCKER_HOST="unix://" + sock)
    for _ in range(100):
        if subprocess.run([DOCKER, "version"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    yield env
    proc.terminate()
    proc.wait()
    subprocess.run(["sh", "-c", f"grep ' {root}' /proc/mounts | cut -d' ' -f2 | xargs -r umount -l"])
    shutil.rmtree(root, ignore_errors=True)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hijack(d, path, protocol="tcp", timeout=10):
    """A POST upgraded to a raw stream (attach's `tcp`, BuildKit's `h2c`): the socket, once the
    response's head has been read, and that head."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.sock)
    s.settimeout(timeout)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\nContent-Length: 0\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head


def read_hijacked_to_end(s, timeout=60):
    """Skips a hijacked response's head, then counts the stream's bytes until the daemon closes."""
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    return count_to_end(s, timeout)


def count_to_end(s, timeout=60):
    s.settimeout(timeout)
    got = 0
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return got
        got += len(chunk)
