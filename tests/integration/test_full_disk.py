"""A full disk: a daemon whose data root is a small tmpfs. What runs out of space fails with the
kernel's words, leaves no partial files behind, and nothing stored before is lost."""
import os
import subprocess
import tarfile

import pytest

from conftest import Daemon


def du(path):
    return int(subprocess.run(["du", "-sk", path], capture_output=True, text=True).stdout.split()[0])


@pytest.fixture
def small_daemon(busybox):
    d = Daemon()
    os.makedirs(d.root + "/data")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", d.root + "/data"], check=True)
    d.start()
    d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
    yield d
    d.stop()


def assert_intact(d):
    assert d.berth("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split() == ["busybox:latest"]
    r = d.berth("run", "--rm", "--network", "none", "busybox", "echo", "still fine")
    assert r.returncode == 0 and r.stdout == "still fine\n", r.stderr


def test_image_larger_than_the_disk(small_daemon, tmp_path):
    d = small_daemon
    before = du(d.root + "/data")
    layer = tmp_path / "big"
    layer.mkdir()
    with open(layer / "blob", "wb") as f:
        f.write(os.urandom(64 << 20))   # incompressible, larger than the whole disk
    with tarfile.open(tmp_path / "big.tar", "w") as t:
        t.add(layer / "blob", arcname="blob")
    r = d.berth("import", str(tmp_path / "big.tar"), "big:1")
    assert r.returncode != 0 and "no space left on device" in r.stderr.lower(), r.stderr
    assert "big" not in d.berth("images").stdout
    assert du(d.root + "/data") <= before + 1024, "partial files left behind"
    assert_intact(d)


def test_container_filling_the_disk(small_daemon):
    d = small_daemon
    r = d.berth("run", "--name", "filler", "--network", "none", "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1M", "count=100")
    assert r.returncode != 0 and "No space left on device" in r.stderr, (r.returncode, r.stderr)
    # With the disk full, the daemon still answers and refuses new work in the kernel's words.
    r = d.berth("create", "--name", "late", "busybox", "true")
    if r.returncode != 0:
        assert "no space left on device" in r.stderr.lower(), r.stderr
    assert "filler" in d.berth("ps", "-a", "--format", "{{.Names}}").stdout
    d.berth("rm", "-f", "filler", check=True)   # removing is what frees space: it must work on a full disk
    d.berth("rm", "-f", "late")
    assert_intact(d)
    d.berth("create", "--name", "after", "busybox", "true", check=True)
    assert d.berth("ps", "-a", "--format", "{{.Names}}").stdout.split() == ["after"]


def test_disk_full_before_create(small_daemon):
    d = small_daemon
    d.berth("create", "--name", "kept", "busybox", "true", check=True)
    filler = d.root + "/data/filler"
    subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=1M", "count=100"], capture_output=True)
    for args in (["create", "--name", "nospace", "busybox", "true"], ["tag", "busybox", "other:1"], ["volume", "create", "nospace-v"],
                 ["network", "create", "nospace-n"]):
        r = d.berth(*args)
        if r.returncode != 0:
            assert "no space left on device" in r.stderr.lower(), (args, r.stderr)
    os.unlink(filler)
    names = d.berth("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert "kept" in names
    for n in names:   # whatever was made while full is whole: it starts and can be removed
        if n != "kept":
            d.berth("rm", "-f", n, check=True)
    assert d.berth("start", "-a", "kept").returncode == 0
    assert_intact(d)
