#!/usr/bin/env python3
"""Writes a tar of a minimal busybox root filesystem (Debian's static busybox, one hard link per
applet, /etc/passwd and /etc/group) to the path given, or stdout. Used to make busybox:latest
offline."""
import io, subprocess, sys, tarfile

BUSYBOX = "/bin/busybox"

def main(out):
    applets = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    data = open(BUSYBOX, "rb").read()
    tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # streams: stdout may be a pipe
    def add_dir(name, mode=0o755):
        ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = mode; tar.addfile(ti)
    def add_file(name, content, mode=0o644):
        ti = tarfile.TarInfo(name); ti.size = len(content); ti.mode = mode; tar.addfile(ti, io.BytesIO(content))
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "tmp", "var", "home", "dev", "proc", "sys"]:
        add_dir(d, 0o1777 if d == "tmp" else 0o755)
    add_file("bin/busybox", data, 0o755)
    for a in applets:
        a = a.lstrip("/")
        if a == "bin/busybox":
            continue
        ti = tarfile.TarInfo(a); ti.type = tarfile.LNKTYPE; ti.linkname = "bin/busybox"; ti.mode = 0o755; tar.addfile(ti)  # same inode as busybox
    add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
    add_file("etc/group", b"root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nnogroup:x:65534:\n")
    tar.close()

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] != "-":
        with open(sys.argv[1], "wb") as f:
            main(f)
    else:
        main(sys.stdout.buffer)
