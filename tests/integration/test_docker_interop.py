"""Images move between Berth and the real dockerd (Debian's docker.io) through save/load."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import DOCKER




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
