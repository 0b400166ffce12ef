"""OCI runtimes as in Docker (issue 15, "default and selectable"): daemon.json `runtimes` and
`default-runtime`, `--add-runtime`, `docker run --runtime`, `docker info`'s list, and dockerd's
words for what is wrong. Before, berthd refused `runtimes` and `default-runtime` at start and
knew runc only."""
import json
import os
import subprocess

from conftest import BIN, Daemon

WRAPPER = """#!/bin/sh
# A runc-compatible runtime for the test: logs each command line, then is runc.
echo "$@" >> {log}
exec runc "$@"
"""


def wrapper(tmp_path, name):
    log = tmp_path / (name + ".log")
    path = tmp_path / name
    path.write_text(WRAPPER.format(log=log))
    path.chmod(0o755)
    return str(path), log


def test_containers_run_with_the_runtime_they_name_or_the_default(busybox, tmp_path):
    logged, log = wrapper(tmp_path, "logged")
    other, other_log = wrapper(tmp_path, "other")
    d = Daemon(config={"runtimes": {"logged": {"path": logged, "runtimeArgs": ["--log-format", "json"]}}, "default-runtime": "logged"},
               args=["--add-runtime", "other=" + other]).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        info = json.loads(d.docker("info", "--format", "{{json .}}").stdout)
        assert info["DefaultRuntime"] == "logged", info["DefaultRuntime"]
        assert info["Runtimes"]["logged"] == {"path": logged, "runtimeArgs": ["--log-format", "json"]} and "runc" in info["Runtimes"], info["Runtimes"]
        assert info["Runtimes"]["other"] == {"path": other}
        text = d.docker("info").stdout
        assert "Default Runtime: logged" in text and "Runtimes:" in text, text
        # No --runtime: the default, with its arguments before every command and a root of its own.
        r = d.docker("run", "--name", "def", "busybox", "echo", "by-default")
        assert r.returncode == 0 and r.stdout == "by-default\n", r.stderr
        assert d.docker("inspect", "-f", "{{.HostConfig.Runtime}}", "def").stdout.strip() == "logged"
        lines = log.read_text().splitlines()
        assert any(l.startswith("--log-format json --root " + d.root + "/run/runtime-logged create") for l in lines), lines
        assert not other_log.exists()
        # --runtime names another; runc is always there.
        assert d.docker("run", "--rm", "--runtime", "other", "busybox", "echo", "other").stdout == "other\n"
        assert d.berth("run", "--rm", "--runtime", "other", "busybox", "echo", "berth").stdout == "berth\n"
        # Berth's own runtime is always listed beside runc (the default unless configured).
        assert "Runtimes: berth logged other runc" in d.berth("info").stdout
        assert any(" create " in l for l in other_log.read_text().splitlines())
        runc = d.docker("run", "-d", "--name", "rr", "--runtime", "runc", "busybox", "sleep", "30")
        assert runc.returncode == 0, runc.stderr
        before = len(log.read_text().splitlines())
        # pause, update and rm -f of a runc container go to runc, not to the default.
        assert d.docker("pause", "rr").returncode == 0 and d.docker("unpause", "rr").returncode == 0
        assert d.docker("rm", "-f", "rr").returncode == 0
        assert len(log.read_text().splitlines()) == before
        r = d.docker("run", "--rm", "--runtime", "nope", "busybox", "true")
        assert r.returncode != 0 and "Unknown runtime specified nope" in r.stderr, r.stderr
    finally:
        d.stop()


def test_runtime_settings_dockerd_refuses_are_refused(tmp_path):
    for config, args, words in [
        ({"runtimes": {"runc": {"path": "/usr/bin/runc"}}}, [], "runtime name 'runc' is reserved"),
        ({"runtimes": {"berth": {"path": "/usr/bin/runc"}}}, [], "runtime name 'berth' is reserved"),
        ({"default-runtime": "missing"}, [], "specified default runtime 'missing' does not exist"),
        ({"runtimes": {"k": {"runtimeArgs": ["x"]}}}, [], "runtime k: either a runtimeType or a path must be configured"),
        ({"runtimes": {"shim": {"runtimeType": "io.containerd.runsc.v1"}}}, [], "containerd shims"),
        ({"runtimes": {"a/b": {"path": "/bin/true"}}}, [], "is not valid"),
        ({"runtimes": {"x": {"path": "/bin/true"}}}, ["--add-runtime", "x=/bin/false"], "configured both by the --add-runtime flag"),
        ({}, ["--add-runtime", "novalue"], "expected name=path"),
    ]:
        cfg = tmp_path / "daemon.json"
        cfg.write_text(json.dumps(config))
        r = subprocess.run([os.path.join(BIN, "berthd"), "--config-file", str(cfg), "-H", f"unix://{tmp_path}/s.sock",
                            "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "run")] + args,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and words in r.stderr, (config, args, r.stderr)


SLOW = """#!/bin/sh
# runc, but its `{command}` takes 3 s (a host's ps with many processes, a freeze waiting for
# tasks in uninterruptible sleep).
for a in "$@"; do [ "$a" = {command} ] && sleep 3 && break; done
exec runc "$@"
"""


def slow_runtime_container(busybox, tmp_path, command, name):
    """A daemon whose runtime `slow` takes 3 s for `command`, with a container `name` running on it."""
    slow = tmp_path / ("slow-" + command)
    slow.write_text(SLOW.format(command=command))
    slow.chmod(0o755)
    d = Daemon(config={"runtimes": {"slow": {"path": str(slow)}}}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        d.docker("run", "-d", "--name", name, "--runtime", "slow", "busybox", "sleep", "60", check=True)
    except BaseException:
        d.stop()
        raise
    return d


def answers_meanwhile(d, call, name):
    """Runs `call` on a thread; half a second in (the call is in the slow runtime), a
    `docker ps` must answer within 1.5 s, listing `name`. Returns what `call` returned."""
    import threading
    import time
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", call()))
    worker.start()
    time.sleep(0.5)
    t = time.monotonic()
    ps = d.docker("ps", "--format", "{{.Names}}")
    elapsed = time.monotonic() - t
    worker.join(10)
    assert ps.stdout.split() == [name] and elapsed < 1.5, f"docker ps waited {elapsed:.1f} s"
    return result["r"]


def test_top_does_not_hold_up_other_calls(busybox, tmp_path):
    """`top` runs the runtime's `ps` and the host's `ps`; it ran them on the engine's actor,
    so every other API call of every client waited for both (a `docker ps` took 2.6 s behind
    the slow `ps` below). They run off the actor now."""
    d = slow_runtime_container(busybox, tmp_path, "ps", "watched")
    try:
        r = answers_meanwhile(d, lambda: d.docker("top", "watched"), "watched")
        assert r.returncode == 0 and "sleep 60" in r.stdout, r.stderr
        d.docker("rm", "-f", "watched")
    finally:
        d.stop()


def test_pause_does_not_hold_up_other_calls_and_orders_with_kill(busybox, tmp_path):
    """`pause` and `unpause` ran the runtime's freeze on the engine's actor: every other call
    waited for it (a freeze waits for every task to stop). Off the actor now, while a `kill`
    still waits for the pause in flight, as Docker's container lock orders them."""
    import threading
    import time
    d = slow_runtime_container(busybox, tmp_path, "pause", "held")
    try:
        r = answers_meanwhile(d, lambda: d.docker("pause", "held"), "held")
        assert r.returncode == 0, r.stderr
        assert d.docker("inspect", "-f", "{{.State.Paused}}", "held").stdout.strip() == "true"
        assert d.docker("unpause", "held").returncode == 0
        assert d.docker("inspect", "-f", "{{.State.Paused}}", "held").stdout.strip() == "false"
        # A kill during a pause comes after it: the container ends neither frozen nor paused.
        pausing = threading.Thread(target=lambda: d.docker("pause", "held"))
        pausing.start()
        time.sleep(0.5)
        k = d.docker("kill", "held")
        pausing.join(10)
        assert k.returncode == 0, k.stderr
        state = d.docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "held").stdout.split()
        assert state == ["exited", "false"], state
        d.docker("rm", "-f", "held")
    finally:
        d.stop()


def test_cp_and_export_freezes_do_not_hold_up_other_calls(busybox, tmp_path):
    """`cp` and `export` freeze a running container for their walk; the freeze ran the runtime
    on the engine's actor, so every other call waited for it. Off the actor now, ordered with
    the user's pause and the thaw at the walk's end."""
    d = slow_runtime_container(busybox, tmp_path, "pause", "walked")
    try:
        r = answers_meanwhile(d, lambda: d.docker("cp", "walked:/etc/hostname", "-"), "walked")
        assert r.returncode == 0 and b"hostname" in r.stdout.encode(), r.stderr
        out = tmp_path / "export.tar"
        r = answers_meanwhile(d, lambda: d.docker("export", "-o", str(out), "walked"), "walked")
        assert r.returncode == 0 and out.stat().st_size > 100_000, r.stderr
        # Thawed once each walk ended: the container still runs, not paused, and answers.
        assert d.docker("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "walked").stdout.split() == ["running", "false"]
        assert d.docker("exec", "walked", "echo", "alive", timeout=20).stdout == "alive\n"
        d.docker("rm", "-f", "walked")
    finally:
        d.stop()

