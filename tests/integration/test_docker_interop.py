"""Images move between Berth and the real dockerd (Debian's docker.io) through save/load."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import BIN, DOCKER




def test_save_load_between_berth_and_dockerd(fresh_daemon, dockerd, tmp_path):
    d = fresh_daemon
    ours = tmp_path / "berth.tar"
    d.berth("save", "-o", str(ours), "busybox", check=True)
    r = subprocess.run([DOCKER, "load", "-i", str(ours)], env=dockerd, capture_output=True, text=True)
    assert r.returncode == 0 and "Loaded image: busybox:latest" in r.stdout, r.stderr
    r = subprocess.run([DOCKER, "run", "--rm", "--network", "none", "busybox", "echo", "in dockerd"], env=dockerd, capture_output=True, text=True)
    assert r.stdout == "in dockerd\n", r.stderr
    # dockerd keeps the image ID: it is the config digest on both sides
    their_id = subprocess.run([DOCKER, "inspect", "--format", "{{.Id}}", "busybox"], env=dockerd, capture_output=True, text=True).stdout
    assert their_id == d.docker("inspect", "--format", "{{.Id}}", "busybox").stdout
    subprocess.run([DOCKER, "tag", "busybox", "from-docker:1"], env=dockerd, check=True)
    theirs = tmp_path / "docker.tar"
    subprocess.run([DOCKER, "save", "-o", str(theirs), "from-docker:1"], env=dockerd, check=True)
    r = d.berth("load", "-i", str(theirs))
    assert "Loaded image: from-docker:1" in r.stdout, r.stderr
    assert d.berth("run", "--rm", "from-docker:1", "echo", "back in berth").stdout == "back in berth\n"


def test_registry_round_trip_with_dockerd(fresh_daemon, dockerd):
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry not installed")
    from test_registry import RealRegistry
    reg = RealRegistry()
    try:
        d = fresh_daemon
        ref = f"{reg.host}/interop/box:1"
        d.berth("tag", "busybox", ref, check=True)
        d.berth("push", ref, check=True)
        r = subprocess.run([DOCKER, "pull", ref], env=dockerd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([DOCKER, "run", "--rm", "--network", "none", ref, "echo", "berth pushed"], env=dockerd, capture_output=True, text=True)
        assert r.stdout == "berth pushed\n", r.stderr
        back = f"{reg.host}/interop/from-docker:2"
        subprocess.run([DOCKER, "tag", ref, back], env=dockerd, check=True)
        r = subprocess.run([DOCKER, "push", back], env=dockerd, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = d.berth("pull", back)
        assert r.returncode == 0, r.stderr
        assert d.berth("run", "--rm", back, "echo", "docker pushed").stdout == "docker pushed\n"
    finally:
        reg.stop()


def test_the_berth_cli_negotiates_down_to_an_older_dockerd(fresh_daemon, dockerd, tmp_path):
    """The berth CLI always named API 1.44, so dockerd 20.10 (1.41) refused every command ("client
    version 1.44 is too new"); the docker CLI negotiates down, and DOCKER_API_VERSION pins it."""
    d = fresh_daemon

    def berth(*args, input=None, **env):
        return subprocess.run([os.path.join(BIN, "berth"), *args], env=dict(dockerd, **env), capture_output=True, text=True, input=input, timeout=120)

    v = berth("version")
    assert v.returncode == 0 and "API version:       1.41 (downgraded from 1.44)" in v.stdout, v.stdout + v.stderr
    image = tmp_path / "busybox.tar"
    d.berth("save", "-o", str(image), "busybox", check=True)
    r = subprocess.run(f"{os.path.join(BIN, 'berth')} load < {image}", shell=True, env=dockerd, capture_output=True, text=True)
    assert "Loaded image: busybox:latest" in r.stdout, r.stderr  # a body from a file: negotiated by a ping first
    assert berth("run", "--rm", "--network", "none", "busybox", "echo", "hi").stdout == "hi\n"
    assert berth("run", "-d", "--name", "negotiated", "--network", "none", "busybox", "sleep", "60").returncode == 0
    assert berth("exec", "-i", "negotiated", "cat", input="piped\n").stdout == "piped\n"
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN echo built > /f\n")
    b = berth("build", "-q", "-t", "negotiated-img", str(tmp_path / "ctx"))
    assert b.returncode == 0 and b.stdout.startswith("sha256:"), b.stdout + b.stderr
    assert berth("run", "--rm", "--network", "none", "negotiated-img", "cat", "/f").stdout == "built\n"
    assert berth("version", "-f", "{{.Client.APIVersion}}", DOCKER_API_VERSION="1.40").stdout.strip() == "1.40"
    r = berth("ps", DOCKER_API_VERSION="1.50")  # pinned: no negotiation, dockerd's refusal shown
    assert r.returncode != 0 and "client version 1.50 is too new" in r.stderr, r.stderr
    berth("rm", "-f", "negotiated")
    # Against berthd nothing changes: 1.44, no downgrade.
    assert "API version:       1.44\n" in d.berth("version").stdout
