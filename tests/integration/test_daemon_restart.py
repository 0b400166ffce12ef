"""berthd can die: containers keep running, a new berthd adopts them."""
import os
import subprocess
import time

from conftest import BIN, DOCKER, Daemon


def test_sigkill_berthd_keeps_containers(fresh_daemon):
    d = fresh_daemon
    d.berth("run", "-d", "--name", "survivor", "busybox", "sh", "-c",
            "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done", check=True)
    d.berth("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 5", check=True)
    pid = d.berth("inspect", "--format", "{{.State.Pid}}", "survivor").stdout.strip()
    d.kill9()
    time.sleep(1.5)  # "short" exits while no daemon runs
    import os
    assert os.path.exists(f"/proc/{pid}"), "container died with the daemon"
    d.start()
    assert d.berth("ps", "--format", "{{.Names}}").stdout.split() == ["survivor"]
    assert d.berth("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "short").stdout.strip() == "exited 5"
    assert "tick" in d.docker("logs", "--tail", "1", "survivor").stdout
    # logs -f follows the adopted container until it stops
    import subprocess
    env = dict(os.environ, DOCKER_HOST=d.host)
    follower = subprocess.Popen(["docker", "logs", "-f", "--tail", "0", "survivor"], stdout=subprocess.PIPE, env=env)
    time.sleep(0.5)
    waiter = subprocess.Popen(["docker", "wait", "survivor"], stdout=subprocess.PIPE, env=env)
    time.sleep(0.3)
    assert d.docker("stop", "survivor").returncode == 0
    assert waiter.communicate(timeout=10)[0].decode().strip() == "0"
    out = follower.communicate(timeout=10)[0].decode()
    assert "tick" in out
    assert not os.path.exists(f"/proc/{pid}")


SLOW_RUNC = """#!/bin/sh
# runc, but its `create` takes a second: time for the daemon to die in the middle of a start.
for a in "$@"; do if [ "$a" = create ]; then sleep 1; break; fi; done
exec runc "$@"
"""


def test_a_start_cut_short_by_the_daemons_death_leaves_nothing_running(busybox, tmp_path):
    """The runtime's create runs off the engine's actor, so berthd can die after the shim made
    the container and before the start was recorded. The next berthd finds that shim (its
    socket) and has the runtime delete the container: nothing runs unseen, and the container
    starts again afresh (before, the old shim kept it, and the new start failed on its id)."""
    slow = tmp_path / "slow-runc"
    slow.write_text(SLOW_RUNC)
    slow.chmod(0o755)
    d = Daemon(config={"runtimes": {"slow": {"path": str(slow)}}}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        cid = d.docker("create", "--name", "cut", "--runtime", "slow", "busybox", "sleep", "600", check=True).stdout.strip()
        env = dict(os.environ, DOCKER_HOST=d.host)
        starter = subprocess.Popen([DOCKER, "start", "cut"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)  # the shim is in the runtime's create
        d.kill9()
        starter.communicate(timeout=10)
        time.sleep(1.5)  # the create is done: a shim waits with a created container
        shims = lambda: subprocess.run(["pgrep", "-f", "berth-shim.*--id " + cid], capture_output=True, text=True).stdout.split()
        assert shims(), "the situation to recover from did not arise"
        d.start()
        for _ in range(50):
            if not shims():
                break
            time.sleep(0.1)
        assert not shims(), "the cut-short start's shim still runs"
        assert d.docker("inspect", "--format", "{{.State.Running}}", "cut").stdout.strip() == "false"
        r = d.docker("start", "cut")
        assert r.returncode == 0, r.stderr
        assert d.docker("inspect", "--format", "{{.State.Running}}", "cut").stdout.strip() == "true"
        d.docker("rm", "-f", "cut")
    finally:
        d.stop()


def test_a_second_daemon_on_the_same_roots_is_refused(fresh_daemon):
    """Two daemons on one store would adopt each other's containers and unmount each other's
    helpers: the second is refused, as dockerd refuses a second daemon on its pid file, and the
    first serves on untouched. The lock dies with its holder."""
    d = fresh_daemon
    cid = d.berth("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    other = d.root + "/other"
    attempts = {
        "data root": ["--data-root", d.root + "/data", "--exec-root", other + "/run"],
        "exec root": ["--data-root", other + "/data", "--exec-root", d.root + "/run"],
    }
    for what, roots in attempts.items():
        r = subprocess.run([os.path.join(BIN, "berthd"), "-H", f"unix://{other}.sock", *roots], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, (what, r.stderr)
        assert f"failed to start daemon: {what} " in r.stderr and f"is in use by another berthd (pid {d.proc.pid})" in r.stderr, r.stderr
        assert not os.path.exists(other + ".sock")
    assert d.berth("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
    assert d.berth("exec", cid, "true").returncode == 0
    # Killed, the first daemon holds nothing: the next one starts on the same roots and adopts the container.
    d.kill9()
    d.start()
    assert d.berth("inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
    assert open(d.root + "/data/berthd.pid").read().strip() == str(d.proc.pid)
    d.berth("rm", "-f", cid, check=True)


def test_a_removal_the_daemon_did_not_finish_is_swept_at_start(fresh_daemon):
    """`rm` answers once the container is gone from the store and deletes what is left of its
    directory afterwards, off the engine's actor. A daemon that dies in between leaves that
    directory behind: the next start deletes it, detaching a rootfs still mounted there first
    (never deleting through the mount), and leaves every stored container's directory alone."""
    d = fresh_daemon
    kept = d.docker("create", "--name", "kept", "busybox", "true", check=True).stdout.strip()
    gone = d.docker("create", "busybox", "true", check=True).stdout.strip()
    containers = os.path.join(d.root, "data", "containers")
    d.docker("rm", gone, check=True)
    for _ in range(100):  # the leftover goes in the background, soon after the answer
        if not os.path.exists(os.path.join(containers, gone)):
            break
        time.sleep(0.02)
    assert not os.path.exists(os.path.join(containers, gone))
    # What a daemon killed mid-removal leaves: a directory no stored container owns, its rootfs
    # still mounted over a file that must survive the sweep.
    d.kill9()
    orphan = os.path.join(containers, "ab" * 32)
    os.makedirs(orphan + "/rootfs")
    precious = os.path.join(d.root, "precious")
    os.makedirs(precious)
    open(os.path.join(precious, "keep"), "w").write("x")
    subprocess.run(["mount", "--bind", precious, orphan + "/rootfs"], check=True)
    open(os.path.join(orphan, "config.v2.json"), "w").write("{}")
    not_an_id = os.path.join(containers, "not-a-container")
    os.makedirs(not_an_id)
    d.start()
    assert not os.path.exists(orphan)
    assert open(os.path.join(precious, "keep")).read() == "x"
    assert os.path.isdir(not_an_id)
    assert os.path.isdir(os.path.join(containers, kept))
    assert d.docker("start", "-a", "kept").returncode == 0


def test_a_removal_at_exit_that_did_not_last_is_made_again(fresh_daemon):
    """A `--rm` container's records are committed without a sync. One that a power loss put
    back in an earlier state (simulated: the row put back as exited, as after a failed start)
    is removed at the next start; so is a `create --rm` never started, as dockerd removes every
    `--rm` container that is not running when it restores; one still running is kept."""
    import json
    import sqlite3
    d = fresh_daemon
    waiting = d.docker("create", "--rm", "--name", "waiting", "busybox", "true", check=True).stdout.strip()
    ghost = d.docker("create", "--rm", "--name", "ghost", "busybox", "true", check=True).stdout.strip()
    d.docker("run", "-d", "--rm", "--name", "alive", "busybox", "sleep", "60", check=True)
    r = d.docker("run", "--rm", "busybox", "true")
    assert r.returncode == 0 and len(d.docker("ps", "-aq").stdout.split()) == 3, d.docker("ps", "-a").stdout
    d.kill9()
    db = sqlite3.connect(os.path.join(d.root, "data", "berth.db"))
    doc = json.loads(db.execute("SELECT doc FROM containers WHERE id = ?", (ghost,)).fetchone()[0])
    doc["State"].update(Status="exited", ExitCode=127, Error="exec: not found", StartedAt=0, FinishedAt=1)
    db.execute("UPDATE containers SET doc = ? WHERE id = ?", (json.dumps(doc), ghost))
    db.commit()
    db.close()
    d.start()
    names = sorted(d.docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
    assert names == ["alive"], names
    assert d.docker("start", "-a", waiting).returncode != 0
    assert not os.path.exists(os.path.join(d.root, "data", "containers", waiting))
    d.docker("rm", "-f", "alive")


def freezer_file(pid):
    """The file that freezes the process's cgroup, with its frozen and thawed values: the v1
    freezer where there is one, else the cgroup2 directory's cgroup.freeze."""
    lines = open(f"/proc/{pid}/cgroup").read().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return f"/sys/fs/cgroup/freezer{path}/freezer.state", "FROZEN", "THAWED"
    path = next(line[3:] for line in lines if line.startswith("0::"))
    base = "/sys/fs/cgroup/unified" if os.path.ismount("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
    return f"{base}{path}/cgroup.freeze", "1", "0"


def test_a_freeze_left_by_a_dead_daemon_is_thawed_at_start(fresh_daemon):
    """export and cp freeze a running container while they walk it (a directory swapped for a
    link mid-walk must not take the walk to the host) and thaw it after. A berthd that died in
    between left the container frozen for good: not even SIGKILL reaches a frozen process, so
    stop and rm -f hung, and unpause refused (it was not paused). The next berthd thaws it; a
    container the user paused stays paused."""
    d = fresh_daemon
    d.docker("run", "-d", "--name", "walked", "busybox", "sleep", "600", check=True)
    d.docker("run", "-d", "--name", "held", "busybox", "sleep", "600", check=True)
    d.docker("pause", "held", check=True)
    pid = d.docker("inspect", "--format", "{{.State.Pid}}", "walked").stdout.strip()
    held = d.docker("inspect", "--format", "{{.State.Pid}}", "held").stdout.strip()
    path, frozen, thawed = freezer_file(pid)
    held_path, _, _ = freezer_file(held)
    d.kill9()
    with open(path, "w") as f:  # what the dead daemon's export left behind
        f.write(frozen)
    assert open(path).read().strip() in (frozen, "FREEZING")
    d.start()
    try:
        assert open(path).read().strip() == thawed
        r = d.docker("exec", "walked", "echo", "thawed", timeout=20)
        assert r.returncode == 0 and r.stdout.strip() == "thawed", r.stderr
        assert d.docker("inspect", "--format", "{{.State.Paused}}", "held").stdout.strip() == "true"
        assert open(held_path).read().strip() == frozen
    finally:
        if open(path).read().strip() != thawed:
            with open(path, "w") as f:
                f.write(thawed)
        d.docker("rm", "-f", "walked", "held", timeout=30)
