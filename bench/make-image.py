#!/usr/bin/env python3
"""Writes a docker-archive with a Debian base layer (a debootstrap rootfs tar) plus N extra layers
of incompressible data, for pull benchmarks. Usage: make-image.py ROOTFS_TAR OUT TAG EXTRA_MB..."""
import hashlib, io, json, os, sys, tarfile, time

rootfs, out, tag = sys.argv[1], sys.argv[2], sys.argv[3]
extras = [int(x) for x in sys.argv[4:]]


def layer_bytes_from_dir(i, mb):
    buf = io.BytesIO()
    t = tarfile.open(fileobj=buf, mode="w")
    d = tarfile.TarInfo(f"opt/layer{i}"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
    for k in range(mb):
        data = os.urandom(1 << 20)
        ti = tarfile.TarInfo(f"opt/layer{i}/blob{k}"); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    t.close()
    return buf.getvalue()


layers = [open(rootfs, "rb").read()] + [layer_bytes_from_dir(i, mb) for i, mb in enumerate(extras)]
diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": now,
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["bash"]},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created": now, "created_by": "debootstrap" if i == 0 else f"extra layer {i}"} for i in range(len(layers))],
}, separators=(",", ":")).encode()
cid = hashlib.sha256(config).hexdigest()
with tarfile.open(out, "w") as t:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    add(cid + ".json", config)
    names = []
    for l, d in zip(layers, diff_ids):
        add(d[7:] + "/layer.tar", l)
        names.append(d[7:] + "/layer.tar")
    add("manifest.json", json.dumps([{"Config": cid + ".json", "RepoTags": [tag], "Layers": names}]).encode())
print(f"{out}: {sum(len(l) for l in layers) / 1e6:.0f} MB in {len(layers)} layers")
