"""berthd can die: containers keep running, a new berthd adopts them."""
import time


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
