"""An idle berthd hands back the code pages and heap a burst of work left mapped."""
import os
import subprocess
import time

import pytest

from conftest import BIN, Daemon


def rss_file_kib(pid):
    status = open(f"/proc/{pid}/status").read()
    return int(status.split("RssFile:")[1].split()[0])


@pytest.fixture()
def trimming_daemon(busybox):
    d = Daemon(env={"BERTH_IDLE_TRIM_SECONDS": "1"}).start()
    d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
    yield d
    d.stop()


def test_an_idle_daemon_gives_back_what_a_burst_mapped(trimming_daemon):
    d = trimming_daemon
    for _ in range(3):
        assert d.docker("run", "--rm", "busybox", "true").returncode == 0
    busy = rss_file_kib(d.proc.pid)
    deadline = time.time() + 10
    while rss_file_kib(d.proc.pid) * 2 > busy and time.time() < deadline:
        time.sleep(0.2)
    idle = rss_file_kib(d.proc.pid)
    assert idle * 2 <= busy, f"file-backed resident set {busy} KiB after the runs, still {idle} KiB after a quiet spell"
    # Everything it dropped comes back on use: the daemon serves on, and trims again when quiet.
    r = d.docker("run", "--rm", "busybox", "echo", "still here")
    assert r.returncode == 0 and r.stdout.strip() == "still here"
    assert d.docker("ps", "-a", "-q").stdout.strip() == ""
    assert rss_file_kib(d.proc.pid) > idle
    deadline = time.time() + 10
    while rss_file_kib(d.proc.pid) > idle * 1.5 and time.time() < deadline:
        time.sleep(0.2)
    assert rss_file_kib(d.proc.pid) <= idle * 1.5


def test_the_trim_can_be_turned_off_and_a_bad_setting_is_refused(busybox):
    d = Daemon(env={"BERTH_IDLE_TRIM_SECONDS": "0"}).start()
    try:
        assert d.docker("version").returncode == 0
        busy = rss_file_kib(d.proc.pid)
        time.sleep(2.5)
        assert rss_file_kib(d.proc.pid) * 10 >= busy * 9, "trimmed although turned off"
    finally:
        d.stop()
    for bad in ["ten", "-1", "86401", "99999999999999999999"]:
        root = f"/tmp/bt-trim-{os.getpid()}"
        r = subprocess.run([os.path.join(BIN, "berthd"), "-H", f"unix://{root}.sock", "--data-root", root + "/data", "--exec-root", root + "/run"],
                           env=dict(os.environ, BERTH_IDLE_TRIM_SECONDS=bad), capture_output=True, text=True, timeout=30)
        subprocess.run(["sh", "-c", f"grep ' {root}' /proc/mounts | cut -d' ' -f2 | xargs -r umount -l; rm -rf {root} {root}.sock"])
        assert r.returncode == 1, (bad, r.stderr)
        assert "BERTH_IDLE_TRIM_SECONDS must be a number of seconds from 0 to 86400" in r.stderr, r.stderr


def elf_interpreter(path):
    """The program interpreter an ELF executable asks for (PT_INTERP), or None when it is static."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:4] == b"\x7fELF" and head[4] == 2, path  # 64-bit ELF
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ptype, _, offset, _, _, filesz = struct.unpack("<IIQQQQ", f.read(40))
            if ptype == 3:  # PT_INTERP
                f.seek(offset)
                return f.read(filesz).rstrip(b"\0").decode()
    return None


@pytest.mark.parametrize("name", ["berth", "berth-shim", "berth-runtime", "berth-exec"])
def test_what_starts_for_every_command_or_container_is_static(name):
    # The dynamic loader was most of the CLI's start: 3.9 ms of libarchive's and OpenSSL's shared
    # chains and relocations before main, against 0.8 ms static — a fifth of a `berth run --rm`.
    assert elf_interpreter(os.path.join(BIN, name)) is None
    out = subprocess.run([os.path.join(BIN, "berth"), "--help"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("Usage:  berth [OPTIONS] COMMAND")
