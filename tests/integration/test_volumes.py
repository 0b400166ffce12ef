"""Volumes and mounts through the docker CLI and berth: named, anonymous and bind mounts,
--mount, --tmpfs, --volumes-from, copy-up from the image, rm -v, and the volume commands."""
import re
import json
import os
import subprocess
import time

from conftest import DOCKER

import pytest

TOOLS = ["berth", "docker"]


@pytest.mark.parametrize("tool", TOOLS)
def test_named_volume_survives_its_container(daemon, tool):
    d = daemon
    vol = f"keep-{tool}"
    r = d.run(tool, "run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert r.returncode == 0, r.stderr
    assert d.run(tool, "run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "cat", "/data/f").stdout == "kept\n"
    r = d.run(tool, "run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "sh", "-c", "echo x > /data/g")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    info = json.loads(d.run(tool, "volume", "inspect", vol, check=True).stdout)[0]
    assert info["Name"] == vol and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Mountpoint"] == f"{d.root}/data/volumes/{vol}/_data"
    assert d.run(tool, "volume", "rm", vol).returncode == 0
    r = d.run(tool, "volume", "inspect", vol)
    assert r.returncode != 0 and "no such volume" in (r.stderr + r.stdout).lower()


def test_copy_up_and_anonymous_volumes(daemon):
    d = daemon
    # A new volume is filled from the image at that path, ownership and modes included.
    out = d.docker("run", "--rm", "-v", "etc-copy:/etc", "busybox", "sh", "-c", "ls /etc; stat -c '%a %u' /etc/passwd", check=True).stdout
    assert "passwd" in out
    plain = d.docker("run", "--rm", "busybox", "stat", "-c", "%a %u", "/etc/passwd", check=True).stdout
    assert out.endswith(plain)
    assert os.path.exists(f"{d.root}/data/volumes/etc-copy/_data/passwd")
    # A non-empty volume is not overwritten.
    d.docker("run", "--rm", "-v", "etc-copy:/etc", "busybox", "sh", "-c", "echo mine > /etc/passwd", check=True)
    assert d.docker("run", "--rm", "-v", "etc-copy:/etc", "busybox", "cat", "/etc/passwd").stdout == "mine\n"
    # nocopy leaves it empty.
    # (runc makes the mount points of /etc/hosts and friends; nothing of the image's /etc.)
    assert "passwd" not in d.docker("run", "--rm", "-v", "empty-nc:/etc:nocopy", "busybox", "ls", "/etc").stdout
    # Anonymous: made per container, removed by rm -v (and --rm), named ones kept.
    before = set(d.berth("volume", "ls", "-q").stdout.split())
    cid = d.docker("create", "-v", "/anon", "-v", "named-kept:/named", "busybox", "true", check=True).stdout.strip()
    mounts = json.loads(d.docker("inspect", cid, check=True).stdout)[0]["Mounts"]
    anon = [m for m in mounts if m["Destination"] == "/anon"][0]
    assert anon["Type"] == "volume" and len(anon["Name"]) == 64 and anon["Driver"] == "local" and anon["RW"] is True
    named = [m for m in mounts if m["Destination"] == "/named"][0]
    assert named["Name"] == "named-kept" and named["Mode"] == "z" and named["Propagation"] == ""
    assert anon["Name"] in d.berth("volume", "ls", "-q").stdout.split()
    r = d.docker("volume", "rm", anon["Name"])
    assert r.returncode != 0 and "volume is in use" in r.stderr and cid in r.stderr
    d.docker("rm", "-v", cid, check=True)
    after = set(d.berth("volume", "ls", "-q").stdout.split())
    assert anon["Name"] not in after and "named-kept" in after
    d.docker("run", "--rm", "-v", "/anon2", "busybox", "true", check=True)
    assert set(d.berth("volume", "ls", "-q").stdout.split()) == after
    d.berth("volume", "rm", "named-kept", "etc-copy", "empty-nc", check=True)
    assert set(d.berth("volume", "ls", "-q").stdout.split()) == before - {"etc-copy"} - {"empty-nc"}


@pytest.mark.parametrize("tool", TOOLS)
def test_bind_mounts_and_mount_flag(daemon, tool, tmp_path):
    d = daemon
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello").write_text("from host\n")
    assert d.run(tool, "run", "--rm", "-v", f"{src}:/h", "busybox", "cat", "/h/hello").stdout == "from host\n"
    r = d.run(tool, "run", "--rm", "-v", f"{src}:/h:ro", "busybox", "sh", "-c", "echo x > /h/new")
    assert r.returncode != 0 and "Read-only file system" in r.stderr and not (src / "new").exists()
    assert d.run(tool, "run", "--rm", "--mount", f"type=bind,src={src},dst=/m,readonly", "busybox", "sh", "-c",
                 "cat /m/hello; touch /m/x 2>&1 || true").stdout.startswith("from host\n")
    assert not (src / "x").exists()
    d.run(tool, "run", "--rm", "-v", f"{src}:/h", "busybox", "sh", "-c", "echo back > /h/out", check=True)
    assert (src / "out").read_text() == "back\n"
    r = d.run(tool, "run", "--rm", "--mount", "type=bind,src=/no/such/dir,dst=/m", "busybox", "true")
    assert r.returncode != 0 and "bind source path does not exist: /no/such/dir" in r.stderr
    r = d.run(tool, "run", "--rm", "-v", "bad:relative", "busybox", "true")
    assert r.returncode != 0 and "must be absolute" in r.stderr
    out = d.run(tool, "run", "--rm", "--tmpfs", "/scratch:size=1m", "--mount", "type=tmpfs,dst=/t2,tmpfs-size=2m", "busybox",
                "sh", "-c", "grep -E ' /(scratch|t2) ' /proc/mounts", check=True).stdout
    assert "tmpfs /scratch tmpfs" in out and "size=1024k" in out and "tmpfs /t2 tmpfs" in out and "size=2048k" in out
    # -v with a missing host directory creates it, as Docker does.
    fresh = tmp_path / "made" / "here"
    d.run(tool, "run", "--rm", "-v", f"{fresh}:/x", "busybox", "true", check=True)
    assert fresh.is_dir()


def test_volumes_from_and_image_volumes(daemon, tmp_path):
    d = daemon
    d.berth("run", "--name", "vsrc", "-v", "vf-data:/shared", "-v", "/anon-shared", "busybox", "sh", "-c",
            "echo s > /shared/f; echo a > /anon-shared/g", check=True)
    out = d.docker("run", "--rm", "--volumes-from", "vsrc:ro", "busybox", "sh", "-c",
                   "cat /shared/f /anon-shared/g; touch /shared/x 2>&1 || true").stdout
    assert out.startswith("s\na\n") and "Read-only" in out
    d.berth("rm", "-v", "vsrc", check=True)
    assert "vf-data" in d.berth("volume", "ls", "-q").stdout.split()
    d.berth("volume", "rm", "vf-data", check=True)
    # An image's VOLUME becomes an anonymous volume, filled from the image.
    d.berth("run", "--name", "vbase", "busybox", "sh", "-c", "mkdir -p /seed && echo seeded > /seed/s", check=True)
    d.berth("commit", "-c", "VOLUME /seed", "vbase", "vol-image", check=True)
    out = d.docker("run", "--rm", "vol-image", "cat", "/seed/s").stdout
    assert out == "seeded\n"
    cid = d.berth("create", "vol-image", "true", check=True).stdout.strip()
    m = json.loads(d.berth("inspect", cid, check=True).stdout)[0]["Mounts"]
    assert len(m) == 1 and m[0]["Destination"] == "/seed" and m[0]["Type"] == "volume"
    d.berth("rm", "-v", cid, "vbase", check=True)
    d.berth("rmi", "vol-image", check=True)


def test_volume_commands_match_docker(fresh_daemon):
    d = fresh_daemon
    for tool, name in [("docker", "lab-a"), ("berth", "lab-b")]:
        assert d.run(tool, "volume", "create", "--label", "team=x", name).stdout.strip() == name
    d.berth("volume", "create", "plain", check=True)
    d.berth("run", "--name", "user", "-v", "plain:/p", "busybox", "true", check=True)
    for args in [("volume", "ls"), ("volume", "ls", "-q"), ("volume", "ls", "--filter", "label=team=x"),
                 ("volume", "ls", "-f", "dangling=true"), ("volume", "ls", "-f", "name=lab"),
                 ("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}} {{.Label \"team\"}}"),
                 ("volume", "inspect", "--format", "{{.Name}} {{.Mountpoint}} {{.Labels}}", "lab-a")]:
        a, b = d.docker(*args), d.berth(*args)
        assert a.returncode == 0 and b.stdout == a.stdout, (args, a.stdout, b.stdout, b.stderr)
    assert d.docker("volume", "ls", "-q", "-f", "dangling=true").stdout.split() == ["lab-a", "lab-b"]
    r = d.docker("volume", "rm", "plain")
    assert r.returncode != 0 and "remove plain: volume is in use" in r.stderr
    r = d.docker("volume", "create", "bad/name")
    assert r.returncode != 0 and "includes invalid characters for a local volume name" in r.stderr
    # API 1.42+: named volumes go only with -a
    assert d.docker("volume", "prune", "-f", "--filter", "label=team=x").stdout.startswith("Total reclaimed space")
    out = d.docker("volume", "prune", "-a", "-f", "--filter", "label=team=x").stdout
    assert "lab-a" in out and "lab-b" in out
    assert d.berth("volume", "ls", "-q").stdout.split() == ["plain"]
    d.berth("rm", "user", check=True)
    d.berth("system", "prune", "-f", "--volumes")
    assert d.berth("volume", "ls", "-q").stdout.split() == ["plain"]   # named: kept by system prune
    assert "plain" in d.berth("volume", "prune", "-a", "-f").stdout
    assert d.berth("volume", "ls", "-q").stdout.split() == []


def test_local_driver_options(daemon):
    d = daemon
    d.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2m", "tmpvol", check=True)
    out = d.docker("run", "--rm", "-v", "tmpvol:/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts; echo x > /t/f; cat /t/f").stdout
    assert out.startswith("tmpfs /t tmpfs") and "size=2048k" in out and out.endswith("x\n")
    assert json.loads(d.docker("volume", "inspect", "tmpvol").stdout)[0]["Options"] == {"device": "tmpfs", "o": "size=2m", "type": "tmpfs"}
    d.docker("volume", "rm", "tmpvol", check=True)
    assert not os.path.exists(f"{d.root}/data/volumes/tmpvol")
    r = d.docker("volume", "create", "-o", "bogus=1", "badopt")
    assert r.returncode != 0 and 'invalid option key: "bogus"' in r.stderr
    # dockerd's pairs: a type or mount options without a device were taken, and the volume's
    # mount then failed at the first container's start.
    for opts in (["-o", "type=tmpfs"], ["-o", "o=size=1m"], ["-o", "device=tmpfs"]):
        r = d.docker("volume", "create", *opts, "half")
        need = "type" if opts[1].startswith("device") else "device"
        assert r.returncode != 0 and f'create half: missing required option: "{need}"' in r.stderr, (opts, r.stderr)
    assert d.docker("volume", "ls", "-q").stdout.split().count("half") == 0


def test_system_prune_output_matches_docker(fresh_daemon):
    """`system prune --volumes`: containers, networks, volumes, images, in the docker CLI's order
    and words, byte for byte (IDs aside)."""
    d = fresh_daemon
    outs = {}
    for tool in ["docker", "berth"]:
        d.berth("network", "create", "sp-net", check=True)
        d.berth("volume", "create", check=True)   # unnamed: anonymous, pruned by default
        d.berth("run", "--name", "sp-c", "busybox", "true", check=True)
        r = d.run(tool, "system", "prune", "-f", "--volumes")
        assert r.returncode == 0, r.stderr
        outs[tool] = re.sub(r"[0-9a-f]{64}", "<id>", r.stdout)
        assert d.berth("network", "ls", "-q", "-f", "name=sp-net").stdout == "" and d.berth("volume", "ls", "-q").stdout == ""
    assert outs["berth"] == outs["docker"], outs
    assert "Deleted Containers:\n<id>\n\nDeleted Networks:\nsp-net\n\nDeleted Volumes:\n<id>\n\n" in outs["berth"], outs


def test_volume_events_match_dockerd(daemon, dockerd, busybox):
    """Volume events around a run (create, mount, unmount), as dockerd 20.10 reports them."""
    subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {busybox} busybox:latest", shell=True, env=dockerd, check=True, capture_output=True)
    fmt = "{{.Type}} {{.Action}} {{.Actor.ID}} {{json .Actor.Attributes}}"
    outs = {}
    for label, env in (("docker", dockerd), ("berth", dict(os.environ, DOCKER_HOST=daemon.host))):
        def docker(*a):
            return subprocess.run([DOCKER, *a], env=env, capture_output=True, text=True)
        docker("volume", "rm", "-f", "ev-vol")
        since = str(time.time() - 1)
        r = docker("run", "--name", "ev-c", "--network", "none", "-v", "ev-vol:/data:ro", "busybox", "true")
        assert r.returncode == 0, r.stderr
        cid = docker("inspect", "--format", "{{.Id}}", "ev-c").stdout.strip()
        time.sleep(0.5)
        ev = docker("events", "--since", since, "--until", str(time.time()), "--filter", "type=volume", "--format", fmt).stdout
        outs[label] = ev.replace(cid, "<cid>")
        docker("rm", "-f", "ev-c")
        docker("volume", "rm", "-f", "ev-vol")
    assert outs["berth"] == outs["docker"] and "mount ev-vol" in outs["berth"], outs


def test_copy_up_through_an_image_symlink_stays_in_the_image(daemon):
    """An image whose volume path is a link climbing out (`/vol -> ../../../../etc`): copy-up
    resolves it inside the image's root (its /etc), never the host's."""
    d = daemon
    assert os.path.exists("/etc/debian_version")
    d.berth("run", "--name", "linkimg", "busybox", "sh", "-c", "ln -s ../../../../../../etc /vol && echo image > /etc/marker", check=True)
    d.berth("commit", "linkimg", "linkimg:1", check=True)
    d.berth("run", "--rm", "-v", "linkvol:/vol", "linkimg:1", "true", check=True)
    data = f"{d.root}/data/volumes/linkvol/_data"
    assert open(data + "/marker").read() == "image\n"
    assert not os.path.exists(data + "/debian_version")
    d.berth("rm", "-f", "linkimg")
    d.berth("volume", "rm", "linkvol")
    d.berth("rmi", "linkimg:1")
