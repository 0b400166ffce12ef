"""exec starts processes without runc (berth-shim's helper enters the container itself): the
process must be exactly as confined as the container's own init — namespaces, cgroups,
capabilities, user, seccomp — and fail the way dockerd's exec fails."""
import os
import stat
import subprocess
import time

import pytest

from conftest import DOCKER

FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "Uid", "Gid")
PROBE = ("for f in /proc/$$/status; do grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid|Groups|PPid):' $f; done;"
         " for n in cgroup ipc mnt net pid uts; do echo ns:$n:$(readlink /proc/$$/ns/$n); done; sed 's/^/cg:/' /proc/$$/cgroup")


def status(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("ns:"):
            _, kind, link = line.split(":", 2)
            out["ns:" + kind] = link
        elif line.startswith("cg:"):
            out[line] = ""
        else:
            k, _, v = line.partition(":")
            out[k] = " ".join(v.split())
    return out


def host_bounding():
    return int(next(l for l in open("/proc/self/status") if l.startswith("CapBnd:")).split()[1], 16)


def init_view(d, name):
    """What the container's init sees of itself (its output is the log)."""
    return status(d.berth("logs", name).stdout)


@pytest.mark.parametrize("opts", [[], ["--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--cap-add", "CHOWN"], ["-u", "nobody"], ["--privileged"]],
                         ids=["default", "caps", "user", "privileged"])
def test_exec_is_confined_like_init(daemon, opts):
    d = daemon
    name = "conf-" + (opts[0].strip("-") if opts else "default")
    d.berth("rm", "-f", name)
    d.berth("run", "-d", "--name", name, *opts, "busybox", "sh", "-c", PROBE + "; sleep 300", check=True)
    for _ in range(50):
        init = init_view(d, name)
        if any(k.startswith("cg:") for k in init):
            break
        time.sleep(0.1)
    r = d.berth("exec", name, "sh", "-c", PROBE)
    assert r.returncode == 0, r.stderr
    ex = status(r.stdout)
    for k in FIELDS + ("Groups",):
        assert ex.get(k) == init.get(k), (k, ex.get(k), init.get(k))
    assert [k for k in ex if k.startswith("ns:")] and all(ex[k] == init[k] for k in ex if k.startswith("ns:")), (ex, init)
    assert sorted(k for k in ex if k.startswith("cg:")) == sorted(k for k in init if k.startswith("cg:"))
    assert ex["PPid"] == "0"   # its parent is outside the container, as with runc exec
    if "--privileged" not in opts:
        assert ex["Seccomp"] == "2" and ex["NoNewPrivs"] == "0"
        # The filter is really there: a syscall Docker's profile refuses without CAP_SYS_ADMIN.
        r = d.berth("exec", name, "unshare", "-U", "true")
        assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    d.berth("rm", "-f", name, check=True)


def test_exec_privileged_and_user_flags(daemon):
    d = daemon
    d.berth("rm", "-f", "conf-flags")
    d.berth("run", "-d", "--name", "conf-flags", "busybox", "sleep", "300", check=True)
    eff = d.berth("exec", "--privileged", "conf-flags", "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    # Every capability, as far as this host grants root (this VM withholds CAP_SYS_RESOURCE).
    assert int(eff, 16) == host_bounding(), eff
    assert d.berth("exec", "-u", "nobody", "conf-flags", "grep", "CapEff", "/proc/self/status").stdout.split()[1] == "0000000000000000"
    r = d.berth("exec", "-u", "nobody:nogroup", "conf-flags", "id")
    assert r.stdout.strip().startswith("uid=65534(nobody) gid=65534(nogroup)"), r.stdout
    # runc's rule: HOME from the user's passwd entry when the environment has none.
    assert d.berth("exec", "-u", "nobody", "conf-flags", "sh", "-c", "echo $HOME").stdout.strip() == "/home"
    assert d.berth("exec", "conf-flags", "sh", "-c", "echo $HOME").stdout.strip() == "/root"
    assert d.berth("exec", "-e", "HOME=/x", "conf-flags", "sh", "-c", "echo $HOME").stdout.strip() == "/x"
    d.berth("rm", "-f", "conf-flags", check=True)


def test_exec_failures_match_dockerd(daemon, dockerd, busybox):
    """The same failing execs against dockerd (runc) and berthd: same exit codes, same messages."""
    subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {busybox} busybox:latest", shell=True, env=dockerd, check=True, capture_output=True)
    subprocess.run([DOCKER, "rm", "-f", "conf-fail"], env=dockerd, capture_output=True)
    subprocess.run([DOCKER, "run", "-d", "--network", "none", "--name", "conf-fail", "busybox", "sleep", "300"], env=dockerd, check=True, capture_output=True)
    daemon.berth("rm", "-f", "conf-fail")
    daemon.berth("run", "-d", "--name", "conf-fail", "busybox", "sleep", "300", check=True)
    try:
        for args in (["no-such-binary"], ["/no/such/path"], ["/etc/passwd"], [""], ["-w", "/nope", "conf-fail", "true"],
                     ["-u", "nobody", "conf-fail", "/root"], ["-w", "tmp", "conf-fail", "pwd"], ["-u", "nosuch", "conf-fail", "true"]):
            argv = ["exec", *args] if args[0] == "-w" or args[0] == "-u" else ["exec", "conf-fail", *args]
            theirs = subprocess.run([DOCKER, *argv], env=dockerd, capture_output=True, text=True)
            ours = daemon.docker(*argv)
            assert ours.returncode == theirs.returncode, (args, ours.returncode, theirs.returncode, theirs.stderr, ours.stderr)
            assert (ours.stdout, ours.stderr) == (theirs.stdout, theirs.stderr), (args, theirs, ours)
    finally:
        subprocess.run([DOCKER, "rm", "-f", "conf-fail"], env=dockerd, capture_output=True)
        daemon.berth("rm", "-f", "conf-fail")


def test_exec_status_matches_dockerd(daemon, dockerd, busybox):
    """Capabilities, seccomp and no_new_privs of an exec'd process, dockerd vs berthd."""
    subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {busybox} busybox:latest", shell=True, env=dockerd, check=True, capture_output=True)
    probe = "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Groups):' /proc/self/status"
    for opts in ([], ["--cap-drop", "ALL"], ["-u", "nobody"]):
        subprocess.run([DOCKER, "rm", "-f", "conf-cmp"], env=dockerd, capture_output=True)
        subprocess.run([DOCKER, "run", "-d", "--network", "none", "--name", "conf-cmp", *opts, "busybox", "sleep", "300"], env=dockerd, check=True, capture_output=True)
        daemon.berth("rm", "-f", "conf-cmp")
        daemon.berth("run", "-d", "--name", "conf-cmp", *opts, "busybox", "sleep", "300", check=True)
        theirs = subprocess.run([DOCKER, "exec", "conf-cmp", "sh", "-c", probe], env=dockerd, capture_output=True, text=True).stdout
        ours = daemon.docker("exec", "conf-cmp", "sh", "-c", probe).stdout
        assert ours == theirs and ours, (opts, theirs, ours)
    subprocess.run([DOCKER, "rm", "-f", "conf-cmp"], env=dockerd, capture_output=True)
    daemon.berth("rm", "-f", "conf-cmp")


def test_privileged_run(daemon):
    """--privileged: every capability root holds here, no seccomp, no masked paths, /sys writable,
    the host's devices. (dockerd 20.10 cannot start one on this VM: runc asks for a capability
    the host withholds; Berth asks for the ones root actually has.)"""
    d = daemon
    d.berth("rm", "-f", "priv")
    d.berth("run", "-d", "--name", "priv", "--privileged", "busybox", "sleep", "300", check=True)
    assert d.docker("inspect", "--format", "{{.HostConfig.Privileged}}", "priv").stdout.strip() == "true"
    st = status(d.berth("exec", "priv", "cat", "/proc/1/status").stdout)
    assert int(st["CapEff"], 16) == host_bounding() and st["Seccomp"] == "0", st
    probe = "mkdir -p /m && mount -t tmpfs none /m && echo mounted; grep ' /sys ' /proc/mounts; grep -c ' /proc/timer_list ' /proc/mounts; ls /dev"
    r = d.berth("exec", "priv", "sh", "-c", probe)
    assert "mounted" in r.stdout and " rw," in r.stdout.splitlines()[1], r.stdout + r.stderr
    assert r.stdout.splitlines()[2] == "0"   # masked paths: none
    host_devs = {n for n in os.listdir("/dev") if n != "console" and os.path.exists("/dev/" + n)
                 and stat.S_ISCHR(os.lstat("/dev/" + n).st_mode)}
    assert host_devs and host_devs <= set(r.stdout.split()), host_devs - set(r.stdout.split())
    # The same in a plain container fails: no CAP_SYS_ADMIN, /sys read-only, no host devices.
    d.berth("run", "-d", "--name", "unpriv", "busybox", "sleep", "300", check=True)
    r = d.berth("exec", "unpriv", "sh", "-c", probe)
    assert "mounted" not in r.stdout and "denied" in r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert " ro," in lines[0] and lines[1] == "1" and "kmsg" not in lines[2:], r.stdout
    d.berth("rm", "-f", "priv", "unpriv", check=True)
