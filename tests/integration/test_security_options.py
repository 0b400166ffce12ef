"""Security options through the docker CLI: applied as dockerd applies them, or refused with a
clear error when Berth cannot apply them here — never accepted and ignored."""
import os
import socket
import subprocess

import pytest

from conftest import DOCKER, busybox_tar


def run(daemon, *args):
    return daemon.docker("run", "--rm", *args)


def test_no_new_privileges(daemon):
    r = run(daemon, "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert r.returncode == 0 and r.stdout.split() == ["NoNewPrivs:", "1"], r.stderr
    r = run(daemon, "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "0"]


def test_seccomp_unconfined_and_systempaths(daemon):
    r = run(daemon, "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert r.stdout.split() == ["Seccomp:", "0"], r.stderr
    r = run(daemon, "busybox", "grep", "Seccomp:", "/proc/self/status")
    assert r.stdout.split() == ["Seccomp:", "2"]
    r = run(daemon, "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c", "grep -c ' /proc/kcore ' /proc/mounts || true")
    assert r.stdout.strip() == "0"


@pytest.mark.parametrize("opt, words", [
    ("bogus=1", 'Invalid --security-opt: "bogus=1"'),
    ("apparmor=my-profile", "AppArmor is not enabled on this host"),
    ("label=type:foo_t", "SELinux is not enabled on this host"),
])
def test_unapplicable_security_options_are_refused(daemon, opt, words):
    r = run(daemon, "--security-opt", opt, "busybox", "true")
    assert r.returncode != 0 and words in r.stderr


def test_ulimit_device_and_device_rules(daemon):
    r = run(daemon, "--ulimit", "nofile=1024:2048", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
    assert r.stdout.split() == ["1024", "2048"], r.stderr
    r = run(daemon, "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c", "echo x > /dev/mynull && ls -l /dev/mynull")
    assert r.returncode == 0 and r.stdout.startswith("crw"), r.stderr
    r = run(daemon, "--device", "/no/such/device", "busybox", "true")
    assert r.returncode != 0 and "no such file or directory" in r.stderr
    r = run(daemon, "--device-cgroup-rule", "c 1:3 rwm", "busybox", "true")
    assert r.returncode == 0, r.stderr
    # the docker CLI checks the syntax itself; the API refuses it too
    status, _, body = daemon.api("POST", "/containers/create", body='{"Image":"busybox","HostConfig":{"DeviceCgroupRules":["x 1 z"]}}',
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and b"invalid device cgroup rule format" in body


def test_capability_all_and_unknown(daemon):
    r = run(daemon, "--cap-add", "ALL", "busybox", "grep", "CapEff", "/proc/self/status")
    default = run(daemon, "busybox", "grep", "CapEff", "/proc/self/status")
    assert int(r.stdout.split()[1], 16) > int(default.stdout.split()[1], 16)
    r = run(daemon, "--cap-add", "ALL", "--cap-drop", "NET_RAW", "busybox", "grep", "CapEff", "/proc/self/status")
    assert not int(r.stdout.split()[1], 16) & (1 << 13)   # CAP_NET_RAW
    r = run(daemon, "--cap-add", "NOT_A_CAP", "busybox", "true")
    assert r.returncode != 0 and "NOT_A_CAP" in r.stderr


def test_cgroupns_private_and_userns(daemon):
    r = run(daemon, "--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup")
    assert r.returncode == 0, r.stderr
    host = run(daemon, "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    assert r.stdout != host.stdout
    status, _, body = daemon.api("POST", "/containers/create", body='{"Image":"busybox","HostConfig":{"UsernsMode":"private"}}',
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and b"invalid USER mode: private" in body


def test_sysctl_allow_list_and_oom_score_adj(daemon):
    r = run(daemon, "--sysctl", "net.ipv4.ip_forward=1", "busybox", "cat", "/proc/sys/net/ipv4/ip_forward")
    assert r.stdout.strip() == "1", r.stderr
    r = run(daemon, "--sysctl", "kernel.shm_rmid_forced=1", "busybox", "cat", "/proc/sys/kernel/shm_rmid_forced")
    assert r.stdout.strip() == "1", r.stderr
    status, _, body = daemon.api("POST", "/containers/create", body='{"Image":"busybox","HostConfig":{"Sysctls":{"kernel.hostname":"x"}}}',
                                 headers={"Content-Type": "application/json"})
    assert status == 400 and b"not whitelisted" in body
    r = run(daemon, "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "true")
    assert r.returncode != 0 and "not allowed in host network namespace" in r.stderr
    r = run(daemon, "--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj")
    assert r.stdout.strip() == "500", r.stderr


def test_pid_ipc_uts_modes(daemon):
    r = run(daemon, "--pid", "host", "busybox", "sh", "-c", "test -d /proc/1 && cat /proc/1/comm")
    assert r.returncode == 0 and r.stdout.strip() != "cat", r.stderr
    assert daemon.docker("run", "-d", "--name", "nsowner", "--ipc", "shareable", "busybox", "sleep", "30").returncode == 0
    assert daemon.docker("exec", "nsowner", "sh", "-c", "echo shared > /dev/shm/x").returncode == 0
    r = run(daemon, "--pid", "container:nsowner", "busybox", "cat", "/proc/1/cmdline")
    assert r.returncode == 0 and r.stdout.startswith("sleep"), r.stderr
    r = run(daemon, "--ipc", "container:nsowner", "busybox", "sh", "-c", "readlink /proc/self/ns/ipc; cat /dev/shm/x")
    own = daemon.docker("exec", "nsowner", "readlink", "/proc/self/ns/ipc").stdout
    assert r.stdout == own + "shared\n", r.stderr
    assert daemon.docker("run", "-d", "--name", "private-ipc", "busybox", "sleep", "30").returncode == 0
    r = run(daemon, "--ipc", "container:private-ipc", "busybox", "true")
    assert r.returncode != 0 and "non-shareable IPC" in r.stderr
    daemon.docker("rm", "-f", "private-ipc")
    # a donor on the host's IPC namespace passes it on (Kubernetes' hostIPC pods)
    assert daemon.docker("run", "-d", "--name", "host-ipc", "--ipc", "host", "busybox", "sleep", "30").returncode == 0
    r = run(daemon, "--ipc", "container:host-ipc", "busybox", "readlink", "/proc/self/ns/ipc")
    assert r.stdout.strip() == os.readlink("/proc/self/ns/ipc"), r.stderr
    daemon.docker("rm", "-f", "host-ipc")
    r = run(daemon, "--uts", "host", "busybox", "hostname")
    import socket
    assert r.stdout.strip() == socket.gethostname()
    daemon.docker("rm", "-f", "nsowner")


def test_seccomp_profiles_inline_and_by_capability(daemon, tmp_path):
    # Docker's default profile lets sethostname through only with CAP_SYS_ADMIN.
    r = run(daemon, "--cap-add", "SYS_ADMIN", "busybox", "hostname", "renamed")
    assert r.returncode == 0, r.stderr
    r = run(daemon, "busybox", "hostname", "renamed")
    assert r.returncode != 0
    # A profile of the client's own, in Docker's format (the CLI sends the file's content).
    profile = {"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
               "syscalls": [{"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO"}]}
    f = tmp_path / "profile.json"
    f.write_text(__import__("json").dumps(profile))
    r = run(daemon, "--security-opt", f"seccomp={f}", "busybox", "sh", "-c", "touch /x && chmod 600 /x && echo allowed || echo denied")
    assert r.stdout.strip() == "denied", r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"syscalls": []}')
    r = run(daemon, "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert r.returncode != 0 and "defaultAction" in r.stderr


def test_masked_and_readonly_paths_from_the_api(daemon):
    import json as j
    body = {"Image": "busybox", "Cmd": ["sh", "-c", "cat /etc/hostname >/dev/null; grep -c ' /etc/hostname ' /proc/mounts; touch /etc/hostname && echo rw || echo ro"],
            "HostConfig": {"MaskedPaths": ["/proc/version"], "ReadonlyPaths": ["/etc/hostname"]}}
    status, _, out = daemon.api("POST", "/containers/create", body=j.dumps(body), headers={"Content-Type": "application/json"})
    cid = j.loads(out)["Id"]
    daemon.docker("start", "-a", cid)
    logs = daemon.docker("logs", cid).stdout
    assert "ro" in logs.split(), logs
    r = daemon.docker("run", "--rm", "busybox", "cat", "/proc/version")
    assert r.stdout.strip() != ""
    status, _, out = daemon.api("POST", "/containers/create", body=j.dumps({"Image": "busybox", "Cmd": ["cat", "/proc/version"],
                                                                           "HostConfig": {"MaskedPaths": ["/proc/version"]}}),
                                headers={"Content-Type": "application/json"})
    cid2 = j.loads(out)["Id"]
    daemon.docker("start", "-a", cid2)
    assert daemon.docker("logs", cid2).stdout.strip() == ""
    daemon.docker("rm", cid, cid2)


def import_root_with(daemon, tmp_path, tag, passwd_entry):
    """busybox with /etc/passwd replaced by `passwd_entry` (a tarfile.TarInfo)."""
    import io
    import subprocess
    import tarfile
    base = tmp_path / "base.tar"
    subprocess.run(["python3", os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "busybox-rootfs.py"), str(base)], check=True)
    out = io.BytesIO()
    with tarfile.open(base) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            if m.name.lstrip("./") in ("etc/passwd", "etc/group"):
                continue
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        dst.addfile(passwd_entry)
    assert daemon.berth("import", "-c", 'CMD ["sh"]', "-", tag, input=out.getvalue()).returncode == 0


def test_passwd_symlink_out_of_the_root_reads_nothing_of_the_host(daemon, tmp_path):
    import tarfile
    canary = "/tmp/berth-canary-passwd"
    with open(canary, "w") as f:
        f.write("evil:x:0:0:host secret:/HOST-SECRET-HOME:/bin/sh\n")
    link = tarfile.TarInfo("etc/passwd")
    link.type = tarfile.SYMTYPE
    link.linkname = canary   # absolute: the container root's /tmp, never the host's
    import_root_with(daemon, tmp_path, "passwd-link:1", link)
    r = daemon.docker("run", "--rm", "-u", "evil", "passwd-link:1", "sh", "-c", "echo $HOME")
    assert r.returncode != 0 and "unable to find user evil" in r.stderr
    assert "HOST-SECRET" not in r.stdout + r.stderr
    daemon.docker("rmi", "passwd-link:1")
    os.unlink(canary)


def test_passwd_fifo_does_not_hang_the_daemon(daemon, tmp_path):
    import tarfile
    fifo = tarfile.TarInfo("etc/passwd")
    fifo.type = tarfile.FIFOTYPE
    import_root_with(daemon, tmp_path, "passwd-fifo:1", fifo)
    r = daemon.docker("run", "--rm", "-u", "nobody", "passwd-fifo:1", "true", timeout=30)
    assert r.returncode != 0 and "unable to find user nobody" in r.stderr
    assert daemon.docker("ps", timeout=10).returncode == 0
    daemon.docker("rmi", "passwd-fifo:1")


def test_internal_network_names_are_not_forwarded(daemon):
    # An --internal network's containers have no way out; the embedded DNS must not be one.
    assert daemon.docker("network", "create", "--internal", "sealed").returncode == 0
    assert daemon.docker("run", "-d", "--name", "sealed-peer", "--network", "sealed", "busybox", "sleep", "30").returncode == 0
    r = daemon.docker("run", "--rm", "--network", "sealed", "busybox", "sh", "-c",
                      "nslookup sealed-peer 127.0.0.11; nslookup example.com 127.0.0.11", timeout=30)
    assert "REFUSED" in r.stdout + r.stderr, r.stdout + r.stderr
    peer_ip = daemon.docker("inspect", "-f", "{{.NetworkSettings.Networks.sealed.IPAddress}}", "sealed-peer").stdout.strip()
    assert peer_ip in r.stdout
    daemon.docker("rm", "-f", "sealed-peer")
    daemon.docker("network", "rm", "sealed")


def test_daemon_default_ulimits(tmp_path, busybox):
    from conftest import Daemon
    d = Daemon(config={"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1111, "Hard": 2222}}}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        r = d.docker("run", "--rm", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn")
        assert r.stdout.split() == ["1111", "2222"], r.stderr
        r = d.docker("run", "--rm", "--ulimit", "nofile=500:600", "busybox", "sh", "-c", "ulimit -n")
        assert r.stdout.strip() == "500"   # the container's own wins
    finally:
        d.stop()


def test_exec_helper_cannot_be_written_from_a_container(daemon):
    # CVE-2019-5736's path: a container process opening the exec helper through
    # /proc/<pid>/exe while an exec starts. The daemon runs it from a read-only bind mount.
    import hashlib
    helper = [l.split()[1] for l in open("/proc/mounts") if l.split()[1] == daemon.root + "/run/bin/berth-exec"]
    assert helper and " ro," in " " + [l for l in open("/proc/mounts") if helper[0] in l][0].split()[3] + ","
    original = os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "berth-exec")
    before = hashlib.sha256(open(original, "rb").read()).hexdigest()
    attacker = ("while true; do for p in /proc/[0-9]*; do case $(readlink $p/exe 2>/dev/null) in *berth-exec*) "
                "(echo x >> $p/exe) 2>/dev/null && echo WROTE > /hit;; esac; done; done")
    assert daemon.docker("run", "-d", "--name", "cve-5736", "--cap-add", "SYS_PTRACE", "busybox", "sh", "-c", attacker).returncode == 0
    for _ in range(30):
        daemon.docker("exec", "cve-5736", "true")
    assert daemon.docker("exec", "cve-5736", "test", "-e", "/hit").returncode != 0
    assert hashlib.sha256(open(original, "rb").read()).hexdigest() == before
    daemon.docker("rm", "-f", "cve-5736")


def test_a_clean_stop_takes_the_exec_helpers_mount_away():
    """Before, every berthd that stopped left its read-only bind of berth-exec mounted."""
    from conftest import Daemon
    d = Daemon().start()
    target = d.root + "/run/bin/berth-exec"
    try:
        assert any(l.split()[1] == target for l in open("/proc/mounts"))
        d.proc.terminate()
        d.proc.wait(timeout=30)
        assert not any(l.split()[1] == target for l in open("/proc/mounts"))
    finally:
        d.stop()


def test_uploads_above_max_upload_size_are_refused_and_not_kept(tmp_path, busybox):
    """daemon.json `max-upload-size`: a `load`, `cp` or build context past it is refused with a
    clear error (known length and chunked alike), nothing of it stays in the store's tmp, and the
    daemon serves the next request."""
    from conftest import Daemon
    limit = 4 << 20
    d = Daemon(config={"max-upload-size": limit}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        d.berth("run", "-d", "--name", "up", "busybox", "sleep", "300", check=True)
        big = tmp_path / "big"
        big.write_bytes(os.urandom(limit + 1024))
        r = d.docker("cp", str(big), "up:/tmp/")
        assert r.returncode != 0 and "max-upload-size" in r.stderr, r.stderr
        (tmp_path / "ctx").mkdir()
        (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nCOPY big /\n")
        (tmp_path / "ctx" / "big").write_bytes(big.read_bytes())
        r = d.berth("build", "-q", str(tmp_path / "ctx"))
        assert r.returncode != 0 and "max-upload-size" in r.stderr, r.stderr
        # chunked (no Content-Length): cut off while it streams
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.sock)
        s.sendall(b"POST /images/load HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer = b""
        try:
            for _ in range(2 * limit // 65536):
                s.sendall(b"10000\r\n" + b"\0" * 65536 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(5)
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        assert b" 400 " in answer.split(b"\r\n")[0] and b"max-upload-size" in answer, answer[:300]
        assert [f for f in os.listdir(d.root + "/data/tmp") if f.startswith("upload")] == []
        small = tmp_path / "small"
        small.write_text("ok")
        assert d.docker("cp", str(small), "up:/tmp/").returncode == 0
        assert d.berth("exec", "up", "cat", "/tmp/small").stdout == "ok"
    finally:
        d.stop()


TUN = "mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && exec 3<>/dev/net/tun && echo opened"


def test_a_container_may_open_the_tun_device_it_makes_as_under_dockerd(daemon, dockerd, tmp_path):
    """VPN images (gluetun, Tailscale) make /dev/net/tun themselves with NET_ADMIN: runc's default
    device rules allow tun/tap (runc 1.2.0 dropped it, and 1.2.4 and crun took it back for them).
    Berth's rules lacked it: the open was refused. The device rules end up as dockerd's."""
    r = run(daemon, "--cap-add", "NET_ADMIN", "busybox", "sh", "-c", TUN)
    assert r.returncode == 0 and r.stdout.strip() == "opened", r.stderr
    busybox_tar(str(tmp_path / "bb.tar"))
    subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {tmp_path}/bb.tar busybox:latest", shell=True, env=dockerd, check=True,
                   capture_output=True)
    d = subprocess.run([DOCKER, "run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "sh", "-c", TUN], env=dockerd, capture_output=True, text=True)
    assert d.returncode == 0 and d.stdout.strip() == "opened", d.stderr
    # The whole list, where the v1 devices controller shows it (the rules written once each).
    if not os.path.isdir("/sys/fs/cgroup/devices"):
        return
    lists = []
    for env, parent in ((dict(os.environ, DOCKER_HOST=daemon.host), "berth"), (dockerd, "docker")):
        cid = subprocess.run([DOCKER, "run", "-d", "busybox", "sleep", "60"], env=env, capture_output=True, text=True, check=True).stdout.strip()
        try:
            with open(f"/sys/fs/cgroup/devices/{parent}/{cid}/devices.list") as f:
                lists.append(sorted(f.read().splitlines()))
        finally:
            subprocess.run([DOCKER, "rm", "-f", cid], env=env, capture_output=True)
    assert lists[0] == lists[1] and "c 10:200 rwm" in lists[0]
