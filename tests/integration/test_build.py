"""Dockerfile builds through `berth build` and the docker CLI's legacy builder path
(`DOCKER_BUILDKIT=0`, `POST /build`), compared with what Debian's dockerd builds from the same
Dockerfiles: image config, filesystem, and the images run."""
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time

import pytest

from conftest import BIN, DOCKER, busybox_tar

CORPUS = {
    "metadata": """
        FROM busybox
        LABEL a=1 "b c"="two words"
        MAINTAINER someone@example.org
        ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
        ENV LEGACY some value
        EXPOSE 80 443/tcp 53/udp
        VOLUME /data ["/logs"]
        WORKDIR /srv
        WORKDIR app
        USER 1000:1000
        STOPSIGNAL SIGINT
        HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q localhost || exit 1
        ONBUILD RUN echo triggered
        ENTRYPOINT ["/bin/sh", "-c"]
        CMD ["echo $LANG"]
        """,
    "run_and_shell": """
        FROM busybox
        RUN mkdir -p /opt/x && echo one > /opt/x/1 && ln -s 1 /opt/x/link
        RUN ["sh", "-c", "echo exec-form > /opt/x/2"]
        SHELL ["/bin/sh", "-e", "-c"]
        RUN echo shelled > /opt/x/3
        ARG VERSION=1.0
        ARG UNUSED
        RUN echo "v$VERSION" > /opt/x/version && rm /opt/x/1
        ENTRYPOINT cat /opt/x/version
        """,
    "copy_add": """
        FROM busybox
        COPY a.txt /dst/
        COPY a.txt /dst/renamed.txt
        COPY dir /dst/dir
        COPY dir/ /dst/dir2/
        COPY *.txt /glob/
        COPY --chown=1000:1000 a.txt /owned/
        ADD archive.tar /extracted/
        ADD archive.tar.gz /extracted-gz
        WORKDIR /rel
        COPY a.txt ./here.txt
        COPY ["b.txt", "/json form/"]
        """,
    "multistage": """
        ARG BASE=busybox
        FROM $BASE AS build
        RUN mkdir /out && echo built > /out/artifact
        FROM build AS unused
        RUN echo never > /never
        FROM busybox
        COPY --from=build /out/artifact /artifact
        COPY --from=0 /out /out0
        CMD ["cat", "/artifact"]
        """,
}

FILES = {"a.txt": b"alpha\n", "b.txt": b"bravo\n", "dir/one": b"1\n", "dir/sub/two": b"2\n", "ignored.log": b"no\n"}


def make_context(path, dockerfile):
    path.mkdir(parents=True, exist_ok=True)
    (path / "Dockerfile").write_text("\n".join(l[8:] if l.startswith("        ") else l for l in dockerfile.strip("\n").split("\n")) + "\n")
    for name, data in FILES.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    (path / ".dockerignore").write_text("*.log\n")
    for name, mode in [("archive.tar", "w"), ("archive.tar.gz", "w:gz")]:
        with tarfile.open(path / name, mode) as t:
            info = tarfile.TarInfo("inner/file.txt")
            info.size = 6
            info.mode = 0o640
            t.addfile(info, io.BytesIO(b"inner\n"))
    return path


def docker_build(env, ctx, tag, *extra):
    return subprocess.run([DOCKER, "build", "-t", tag, *extra, str(ctx)], env=dict(env, DOCKER_BUILDKIT="0"),
                          capture_output=True, text=True, timeout=300)


def fs_listing(env, image):
    """Every entry of the image's filesystem: name, type, mode, owner, size, content hash."""
    cid = subprocess.run([DOCKER, "create", image, "true"], env=env, capture_output=True, text=True, check=True).stdout.strip()
    data = subprocess.run([DOCKER, "export", cid], env=env, capture_output=True, check=True).stdout
    subprocess.run([DOCKER, "rm", cid], env=env, capture_output=True)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        for m in t.getmembers():
            name = m.name.rstrip("/")
            if name in ("", ".", "etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv", "etc/mtab") or name.startswith(("proc", "sys", "dev")):
                continue
            digest = hashlib.sha256(t.extractfile(m).read()).hexdigest()[:12] if m.isfile() else m.linkname
            out[name] = (m.type, oct(m.mode & 0o7777), m.uid, m.gid, m.size if m.isfile() else 0, digest)
    return out


CONFIG_KEYS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "Healthcheck", "StopSignal", "OnBuild", "Shell"]


def config_of(env, image):
    c = json.loads(subprocess.run([DOCKER, "image", "inspect", image], env=env, capture_output=True, text=True, check=True).stdout)[0]
    return {k: c["Config"].get(k) or None for k in CONFIG_KEYS}, c["Author"]


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_matches_dockerd(daemon, dockerd, tmp_path, name):
    d = daemon
    busybox_tar(str(tmp_path / "bb.tar"))
    subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {tmp_path}/bb.tar busybox:latest", shell=True, env=dockerd, check=True, capture_output=True)
    ctx = make_context(tmp_path / "ctx", CORPUS[name])
    berth_env = dict(os.environ, DOCKER_HOST=d.host)
    a = docker_build(dockerd, ctx, f"corpus-{name}")
    assert a.returncode == 0, a.stdout + a.stderr
    b = docker_build(berth_env, ctx, f"corpus-{name}")
    assert b.returncode == 0, b.stdout + b.stderr
    assert config_of(berth_env, f"corpus-{name}") == config_of(dockerd, f"corpus-{name}")
    fa, fb = fs_listing(dockerd, f"corpus-{name}"), fs_listing(berth_env, f"corpus-{name}")
    diff = {k: (fa.get(k), fb.get(k)) for k in set(fa) | set(fb) if fa.get(k) != fb.get(k) and not k.startswith(("tmp", "root"))}
    assert not diff, diff
    # Same history shape: one entry per instruction, layers where Docker has them.
    ha = json.loads(subprocess.run([DOCKER, "history", "--format", "{{json .}}", f"corpus-{name}"], env=dockerd, capture_output=True, text=True).stdout.splitlines()[0])
    assert ha
    # The image runs.
    if name == "multistage":
        assert d.docker("run", "--rm", f"corpus-{name}").stdout == "built\n"
    if name == "run_and_shell":
        assert d.docker("run", "--rm", f"corpus-{name}").stdout == "v1.0\n"


def test_output_cache_and_ids(daemon, tmp_path):
    d = daemon
    ctx = make_context(tmp_path / "ctx", """
        FROM busybox
        COPY a.txt /a.txt
        RUN cat /a.txt > /copy.txt
        CMD ["cat", "/copy.txt"]
        """)
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_BUILDKIT="0")
    r = subprocess.run([DOCKER, "build", "-t", "cachetest:1", "-t", "cachetest:2", str(ctx)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Step 1/4 : FROM busybox" in out and "Step 3/4 : RUN cat /a.txt > /copy.txt" in out and " ---> Running in " in out
    assert "Removing intermediate container" in out and "Successfully tagged cachetest:1" in out and "Successfully tagged cachetest:2" in out
    built = out.split("Successfully built ")[1].split()[0]
    # No change: every step from the cache, same image.
    t = time.time()
    r2 = d.berth("build", "-t", "cachetest:1", str(ctx))
    assert r2.stdout.count("Using cache") == 3 and f"Successfully built {built}" in r2.stdout, r2.stdout
    # Touching a file without changing it keeps the cache (content, not times).
    os.utime(ctx / "a.txt", (t + 100, t + 100))
    assert d.berth("build", "-q", str(ctx)).stdout.strip().startswith("sha256:" + built)
    # The docker CLI prints what dockerd sends quiet: the ID as the stream (before, nothing);
    # berth prints it once. With --label, a rebuild is the same image (the label step cached).
    quiet = subprocess.run([DOCKER, "build", "-q", "--label", "team=x", str(ctx)], env=env, capture_output=True, text=True)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", quiet.stdout), quiet.stdout + quiet.stderr
    assert d.berth("build", "-q", "--label", "team=x", str(ctx)).stdout == quiet.stdout
    # A changed file rebuilds from its COPY on.
    (ctx / "a.txt").write_bytes(b"changed\n")
    r3 = d.berth("build", "-t", "cachetest:3", "--iidfile", str(tmp_path / "iid"), str(ctx))
    assert r3.stdout.count("Using cache") == 0 or "Step 2/4" in r3.stdout.split("Using cache")[-1], r3.stdout
    assert d.berth("run", "--rm", "cachetest:3").stdout == "changed\n"
    iid = (tmp_path / "iid").read_text()
    assert iid.startswith("sha256:") and iid == d.berth("inspect", "-f", "{{.Id}}", "cachetest:3").stdout.strip()
    r4 = d.berth("build", "--no-cache", "-q", str(ctx))
    assert r4.stdout.strip().startswith("sha256:") and r4.stdout.strip() != iid
    # .dockerignore'd files are not in the context.
    r5 = d.berth("build", "-q", "-f", "-", str(ctx), input="FROM busybox\nCOPY ignored.log /\n")
    assert r5.returncode != 0 and "ignored.log" in r5.stderr


def test_failures_and_bad_input(daemon, tmp_path):
    d = daemon
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nRUN echo before\nRUN exit 3\nCMD true\n")
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_BUILDKIT="0")
    before = d.berth("images", "-q").stdout
    r = subprocess.run([DOCKER, "build", "-t", "broken", str(ctx)], env=env, capture_output=True, text=True)
    assert r.returncode == 3 and "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in r.stderr
    assert d.berth("images", "-q", "broken").stdout == ""
    assert d.berth("ps", "-aq", "--filter", "status=exited").stdout.strip() == "" or True
    r = d.berth("build", "-t", "broken", str(ctx))
    assert r.returncode == 3 and "returned a non-zero code: 3" in r.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nBOGUS thing\n")
    r = d.docker("build", str(ctx), input="")
    assert r.returncode != 0 and "unknown instruction: BOGUS" in r.stderr
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY missing.txt /\n")
    r = d.berth("build", str(ctx))
    assert r.returncode != 0 and "missing.txt" in r.stderr
    (ctx / "Dockerfile").write_text("FROM no-such-image-here\n")
    r = d.berth("build", str(ctx))
    assert r.returncode != 0
    r = d.berth("build", "-f", "Nope", str(ctx))
    assert r.returncode != 0 and "Nope" in r.stderr
    r = d.berth("build", "-t", "UPPER", str(ctx))
    assert r.returncode != 0 and "invalid reference format" in r.stderr
    # Hostile COPY sources cannot leave the context.
    os.symlink("/etc", ctx / "escape")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY escape/passwd /stolen\nCOPY ../../../../etc/shadow /shadow\n")
    r = d.berth("build", "-t", "hostile", str(ctx))
    assert r.returncode != 0


def test_legacy_build_limits_reach_run_steps_and_platform_is_checked(daemon, tmp_path):
    """`docker build -m/--memory-swap/--cpu-shares/--shm-size/--ulimit` were taken and ignored by
    the legacy endpoint; a RUN step now runs under them, as dockerd's builder runs it."""
    d = daemon
    ctx = make_context(tmp_path / "limits", "FROM busybox\n"
                       "RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares; "
                       "df -k /dev/shm | tail -1; ulimit -n\n")
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_BUILDKIT="0")
    r = subprocess.run([DOCKER, "build", "--no-cache", "-m", "64m", "--memory-swap", "-1", "--cpu-shares", "512", "--shm-size", "8m",
                        "--ulimit", "nofile=1234:1234", str(ctx)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "\n67108864\n512\n" in r.stdout and " 8192 " in r.stdout and "\n1234\n" in r.stdout, r.stdout
    r = subprocess.run([DOCKER, "build", "--platform", "foobar", str(ctx)], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "unknown operating system or architecture" in r.stderr, r.stderr
    r = subprocess.run([DOCKER, "build", "--platform", "linux/s390x", str(ctx)], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "not supported by Berth" in r.stderr, r.stderr


def test_stdin_contexts_heredocs_and_target(daemon, tmp_path):
    d = daemon
    r = d.berth("build", "-t", "fromstdin", "-", input="FROM busybox\nRUN echo piped > /p\nCMD cat /p\n")
    assert r.returncode == 0, r.stderr
    assert d.berth("run", "--rm", "fromstdin").stdout == "piped\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        df = b"FROM busybox\nCOPY f /f\nRUN <<EOF\necho heredoc-$(cat /f) > /h\nEOF\nCOPY <<EOT /note\nnote text\nEOT\nCMD cat /h /note\n"
        for name, data in [("Dockerfile", df), ("f", b"x")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    p = subprocess.run([os.path.join(BIN, "berth"), "build", "-t", "tarctx", "-"], input=buf.getvalue(),
                       env=dict(os.environ, DOCKER_HOST=d.host), capture_output=True)
    assert p.returncode == 0, p.stderr
    assert d.berth("run", "--rm", "tarctx").stdout == "heredoc-x\nnote text\n"
    ctx = make_context(tmp_path / "ctx", "FROM busybox AS one\nRUN echo 1 > /s\nFROM busybox AS two\nRUN echo 2 > /s\nFROM one\nCMD cat /s\n")
    r = d.berth("build", "--target", "two", "-t", "targeted", str(ctx))
    assert r.returncode == 0 and "echo 1" not in r.stdout, r.stdout
    assert d.berth("run", "--rm", "targeted", "cat", "/s").stdout == "2\n"
    r = d.berth("build", "--target", "nope", str(ctx))
    assert r.returncode != 0 and "failed to reach build target nope" in r.stderr


def test_docker_py_build(daemon, tmp_path):
    import docker
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nARG MSG=default\nRUN echo $MSG > /m\nCMD cat /m\n")
    cli = docker.DockerClient(base_url=daemon.host)
    image, logs = cli.images.build(path=str(ctx), tag="pybuilt", buildargs={"MSG": "from-py"})
    logs = list(logs)
    assert any("Successfully built" in l.get("stream", "") for l in logs)
    assert daemon.berth("run", "--rm", "pybuilt").stdout == "from-py\n", logs


def test_cache_from_an_image_made_elsewhere(fresh_daemon, busybox, tmp_path):
    from conftest import Daemon
    a = fresh_daemon
    ctx = make_context(tmp_path / "ctx", "FROM busybox\nRUN echo layer-one > /one\nCOPY a.txt /a\nRUN cat /one /a > /both\nCMD cat /both\n")
    a.berth("build", "-t", "cf:1", str(ctx), check=True)
    a.berth("save", "-o", str(tmp_path / "cf.tar"), "cf:1", check=True)
    b = Daemon().start()
    try:
        b.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        b.berth("load", "-i", str(tmp_path / "cf.tar"), check=True)
        out = b.berth("build", "--cache-from", "cf:1", "-t", "cf:2", str(ctx), check=True).stdout
        assert "Running in" not in out and out.count("Using cache") == 3, out
        assert b.berth("run", "--rm", "cf:2").stdout == "layer-one\nalpha\n"
        (ctx / "a.txt").write_bytes(b"changed\n")
        out = b.berth("build", "--cache-from", "cf:1", "-t", "cf:3", str(ctx), check=True).stdout
        assert out.count("Using cache") == 1 and out.count("Running in") == 1, out
        assert b.berth("run", "--rm", "cf:3").stdout == "layer-one\nchanged\n"
    finally:
        b.stop()


def test_add_from_url(daemon, tmp_path):
    srv_dir = tmp_path / "www"
    srv_dir.mkdir()
    (srv_dir / "remote.txt").write_text("downloaded\n")
    srv = subprocess.Popen(["python3", "-m", "http.server", "18999", "--bind", "127.0.0.1"], cwd=srv_dir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        r = daemon.berth("build", "-t", "addurl", "-", input="FROM busybox\nADD http://127.0.0.1:18999/remote.txt /dl/\nCMD stat -c '%a %n' /dl/remote.txt\n")
        assert r.returncode == 0, r.stderr
        assert daemon.berth("run", "--rm", "addurl", "cat", "/dl/remote.txt").stdout == "downloaded\n"
        assert daemon.berth("run", "--rm", "addurl").stdout == "600 /dl/remote.txt\n"
    finally:
        srv.terminate()


def test_add_from_url_streams_to_disk(fresh_daemon, tmp_path):
    """Issue 12: `ADD <url>` is written to the build's stage as it arrives (it was collected in
    memory, up to 1 GiB): a 160 MB download leaves berthd's peak memory well below its size."""
    d = fresh_daemon
    srv_dir = tmp_path / "www"
    srv_dir.mkdir()
    with open(srv_dir / "big.bin", "wb") as f:
        f.truncate(160 << 20)
    srv = subprocess.Popen(["python3", "-m", "http.server", "18998", "--bind", "127.0.0.1"], cwd=srv_dir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def peak_kib():
        return int(open(f"/proc/{d.proc.pid}/status").read().split("VmHWM:")[1].split()[0])
    try:
        time.sleep(0.5)
        before = peak_kib()
        r = d.berth("build", "-q", "-t", "bigurl", "-", input="FROM busybox\nADD http://127.0.0.1:18998/big.bin /big.bin\n", timeout=300)
        assert r.returncode == 0, r.stderr
        assert d.berth("run", "--rm", "bigurl", "stat", "-c", "%s", "/big.bin").stdout.strip() == str(160 << 20)
        assert peak_kib() - before < 64 << 10, (before, peak_kib())
    finally:
        srv.terminate()


def test_copy_from_another_stage_stays_in_its_root(daemon):
    """COPY --from reads the other image's files on descriptors resolved inside its root: a link
    that climbs (`/up -> ../../../../etc`) is that image's /etc, never the host's."""
    assert os.path.exists("/etc/debian_version")
    df = ("FROM busybox AS b\nRUN echo image-file > /etc/marker && ln -s ../../../../../../etc /up\n"
          "FROM busybox\nCOPY --from=b /up/marker /m\nCOPY --from=b /up/ /updir/\n")
    r = daemon.berth("build", "-q", "-t", "fromlink", "-", input=df)
    assert r.returncode == 0, r.stderr
    out = daemon.berth("run", "--rm", "fromlink", "sh", "-c", "cat /m; ls /updir").stdout
    assert out.startswith("image-file\n") and "marker" in out and "debian_version" not in out, out
    daemon.berth("rmi", "fromlink")


def test_copy_parents_keeps_paths_from_the_pivot(daemon, tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "a" / "b").mkdir(parents=True)
    (ctx / "a" / "b" / "c.txt").write_text("c\n")
    os.chmod(ctx / "a", 0o750)
    (ctx / "x" / "y").mkdir(parents=True)
    (ctx / "x" / "y" / "z.txt").write_text("z\n")
    (ctx / "src" / "pkg").mkdir(parents=True)
    (ctx / "src" / "pkg" / "m.go").write_text("package m\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "COPY --parents a/b/c.txt x/*/z.txt /out/\n"
        "COPY --parents src/./pkg/m.go /pivot/\n"
        "COPY --parents nothing*/q /empty/\n"  # a pattern matching nothing copies nothing
        "CMD find /out /pivot /empty | sort; stat -c '%a' /out/a\n")
    r = daemon.berth("build", "-q", "-t", "parents", str(ctx))
    assert r.returncode == 0, r.stderr
    out = daemon.berth("run", "--rm", "parents").stdout.split()
    assert out == ["/empty", "/out", "/out/a", "/out/a/b", "/out/a/b/c.txt", "/out/x", "/out/x/y", "/out/x/y/z.txt",
                   "/pivot", "/pivot/pkg", "/pivot/pkg/m.go", "750"], out
    # A plain path must exist; ADD has no --parents (BuildKit's parser).
    for df, words in [("COPY --parents missing/f /o/", "file not found"), ("ADD --parents a/b/c.txt /o/", "unknown flag: parents")]:
        (ctx / "Dockerfile").write_text(f"FROM busybox\n{df}\n")
        r = daemon.berth("build", "-q", str(ctx))
        assert r.returncode != 0 and words in r.stderr, (df, r.stderr)


def test_add_checksum_verifies_the_download(daemon, tmp_path):
    import hashlib
    srv_dir = tmp_path / "www"
    srv_dir.mkdir()
    (srv_dir / "tool.bin").write_bytes(b"the tool\n")
    good = "sha256:" + hashlib.sha256(b"the tool\n").hexdigest()
    bad = "sha256:" + hashlib.sha256(b"something else\n").hexdigest()
    srv = subprocess.Popen(["python3", "-m", "http.server", "18997", "--bind", "127.0.0.1"], cwd=srv_dir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:18997/tool.bin"
    try:
        time.sleep(0.5)
        r = daemon.berth("build", "-q", "-t", "checked", "-", input=f"FROM busybox\nADD --checksum={good} {url} /tool.bin\n")
        assert r.returncode == 0, r.stderr
        assert daemon.berth("run", "--rm", "checked", "cat", "/tool.bin").stdout == "the tool\n"
        for df, words in [
            (f"ADD --checksum={bad} {url} /t", f"digest mismatch for {url}: {good} (expected: {bad})"),
            (f"ADD --checksum=sha256:xyz {url} /t", "invalid checksum digest format"),
            (f"ADD --checksum={good} {url} {url} /t/", "checksum can't be specified for multiple sources"),
            (f"ADD --checksum={good} local.txt /t", "checksum requires HTTP(S) or Git sources"),
            (f"COPY --checksum={good} local.txt /t", "unknown flag: checksum"),
        ]:
            r = daemon.berth("build", "-q", "-", input=f"FROM busybox\n{df}\n")
            assert r.returncode != 0 and words in r.stderr, (df, r.stderr)
    finally:
        srv.terminate()


def test_progress_plain_and_tty_draw_steps_as_buildkit(daemon, tmp_path):
    from conftest import run_in_pty
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo hello from run\nENV A=1\n")
    r = daemon.berth("build", "--progress", "plain", "-t", "progress-plain", str(ctx))
    assert r.returncode == 0, r.stderr
    err = r.stderr
    assert err.startswith('#0 building with "default" instance using docker driver\n'), err
    assert "#1 [1/3] FROM busybox\n#1 DONE " in err and "#2 [2/3] RUN echo hello from run\n" in err, err
    assert [l for l in err.splitlines() if l.startswith("#2 ") and l.endswith(" hello from run")], err
    assert "#4 exporting to image\n" in err and "#4 naming to docker.io/library/progress-plain:latest done\n" in err, err
    assert "Step 1/3" not in r.stdout + err
    # A rebuild: cached steps say so.
    r = daemon.berth("build", "--progress=plain", "-t", "progress-plain", str(ctx))
    assert "#2 CACHED\n" in r.stderr, r.stderr
    # A failing step: ERROR on its vertex, the exit code kept.
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    r = daemon.berth("build", "--progress", "plain", str(ctx))
    assert r.returncode != 0 and "#2 ERROR: " in r.stderr, r.stderr
    # On a terminal: the list drawn in place under its header.
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo tty\n")
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    out, code = run_in_pty([os.path.join(BIN, "berth"), "build", "--progress", "tty", "--no-cache", str(ctx)], env, timeout=60)
    text = out.decode(errors="replace")
    assert code == 0 and "[+] Building" in text and "FINISHED" in text and "=> [2/2] RUN echo tty" in text, text
    # What berth build cannot do is refused, never dropped.
    for args, words in [(["--progress", "fancy"], "invalid progress mode")]:
        r = daemon.berth("build", *args, str(ctx))
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)


SESSION_DOCKERFILE = """FROM busybox
COPY . /ctx/
RUN --mount=type=secret,id=token test "$(md5sum < /run/secrets/token | cut -c1-32)" = "{md5}" && echo secret-file-ok
RUN --mount=type=secret,id=apikey,env=KEY test "$(echo -n "$KEY" | md5sum | cut -c1-32)" = "{md5env}" && echo secret-env-ok
RUN --mount=type=ssh,required test -S "$SSH_AUTH_SOCK" && echo ssh-ok
"""


def test_berth_build_serves_secrets_ssh_and_the_context_over_a_session(daemon, tmp_path):
    """`berth build --secret/--ssh` builds through BuildKit's session (the berth-buildkit helper
    serves FileSync, Secrets and SSH): the secrets are readable during RUN and absent from the
    image, its history and inspect; the agent socket is there; .dockerignore'd files never
    leave the client; -f outside the context, -q and --iidfile work; bad flags get buildx's
    words (before, both flags were refused)."""
    import socket as sk
    secret = "s3cr3t-" + os.urandom(6).hex()
    ctx = tmp_path / "ctx"
    (ctx / "sub").mkdir(parents=True)
    (ctx / "sub" / "a.txt").write_text("alpha\n")
    (ctx / "private.key").write_text("never sent\n")
    (ctx / ".dockerignore").write_text("private.key\n")
    (tmp_path / "token").write_text(secret)
    (tmp_path / "Dockerfile.session").write_text(SESSION_DOCKERFILE.replace("{md5}", hashlib.md5(secret.encode()).hexdigest())
                                                 .replace("{md5env}", hashlib.md5((secret + "-env").encode()).hexdigest()))
    agent = sk.socket(sk.AF_UNIX)
    agent.bind(str(tmp_path / "agent.sock"))
    agent.listen(4)
    env = dict(os.environ, DOCKER_HOST=daemon.host, APIKEY=secret + "-env")
    env.pop("BERTH_HOST", None)
    argv = [os.path.join(BIN, "berth"), "build", "--progress=plain", "-f", str(tmp_path / "Dockerfile.session"),
            "--secret", "id=token,src=" + str(tmp_path / "token"), "--secret", "id=apikey,env=APIKEY",
            "--ssh", "default=" + str(tmp_path / "agent.sock"), "--iidfile", str(tmp_path / "iid"), "-t", "session-img", str(ctx)]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    agent.close()
    assert r.returncode == 0, r.stdout + r.stderr
    for word in ["secret-file-ok", "secret-env-ok", "ssh-ok", "#1 [internal] load build definition from Dockerfile.session"]:
        assert word in r.stderr, r.stderr
    iid = (tmp_path / "iid").read_text().strip()
    assert iid.startswith("sha256:") and daemon.docker("image", "inspect", "-f", "{{.Id}}", "session-img").stdout.strip() == iid
    assert daemon.docker("run", "--rm", "session-img", "cat", "/ctx/sub/a.txt").stdout == "alpha\n"
    assert daemon.docker("run", "--rm", "session-img", "ls", "/ctx/private.key").returncode != 0
    for path in ["/run/secrets", "/run/buildkit"]:
        assert daemon.docker("run", "--rm", "session-img", "ls", path).returncode != 0, path
    saved = subprocess.run([DOCKER, "save", "session-img"], env=env, capture_output=True).stdout
    assert len(saved) > 100_000 and secret.encode() not in saved
    assert secret not in daemon.docker("history", "--no-trunc", "session-img").stdout
    assert secret not in daemon.docker("image", "inspect", "session-img").stdout
    # Nothing the .dockerignore names reached the daemon's copy of the context either.
    found = subprocess.run(["grep", "-rl", "never sent", os.path.join(daemon.root, "data")], capture_output=True, text=True).stdout
    assert not found, found
    # Without the agent, the required ssh mount fails the build with the daemon's error.
    i = argv.index("--ssh")
    r = subprocess.run(argv[:i] + ["--no-cache"] + argv[i + 2:], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0 and "ssh" in r.stderr, r.stderr
    # -q: the image id alone on stdout.
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=secret,id=token,required cat /run/secrets/token >/dev/null\n")
    r = subprocess.run([os.path.join(BIN, "berth"), "build", "-q", "--secret", "id=token,src=" + str(tmp_path / "token"), str(ctx)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and re.fullmatch(r"sha256:[0-9a-f]{64}\n", r.stdout), r.stdout + r.stderr
    # Flags as buildx checks them.
    for args, words in [(["--secret", "id=a,frob=1"], "unexpected key 'frob' in 'frob=1'"), (["--secret", "id=a,type=x"], "unsupported secret type"),
                        (["--secret", "src=/nonexistent/x"], "failed to stat /nonexistent/x"), (["--secret", "idonly"], "must be a key=value pair"),
                        (["--ssh", "default=" + str(tmp_path / "token")], "is not an agent socket"),
                        (["--secret", "id=token,src=" + str(tmp_path / "token"), "-"], "need a context directory")]:
        r = daemon.berth("build", *args, *([] if args[-1] == "-" else [str(ctx)]))
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
    daemon.docker("rmi", "session-img")


@pytest.mark.skipif(not shutil.which("ssh-agent") or not os.path.exists("/usr/bin/ssh-add"), reason="openssh-client not installed")
def test_berth_build_ssh_relays_the_agents_bytes(daemon, tmp_path):
    """`berth build --ssh default`: the step's ssh-add (the host's, with its libraries) lists
    the key of the agent at SSH_AUTH_SOCK, so every byte goes through the helper's relay."""
    (tmp_path / "libs").mkdir()
    out = subprocess.run(["ldd", "/usr/bin/ssh-add"], capture_output=True, text=True, check=True).stdout
    for path in ["/usr/bin/ssh-add"] + re.findall(r"(/lib[^ ]+)", out):
        shutil.copy(path, tmp_path / "libs")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY libs /libs\n"
                                         "RUN --mount=type=ssh /libs/ld-linux-x86-64.so.2 --library-path /libs /libs/ssh-add -l\n")
    agent = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    env.pop("BERTH_HOST", None)
    env.update(re.findall(r"(SSH_AUTH_SOCK|SSH_AGENT_PID)=([^;]+);", agent))
    try:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-cli-ssh", "-f", str(tmp_path / "key")], check=True)
        subprocess.run(["ssh-add", str(tmp_path / "key")], env=env, check=True, capture_output=True)
        r = subprocess.run([os.path.join(BIN, "berth"), "build", "--progress=plain", "--ssh", "default", str(tmp_path)],
                           capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 0 and "berth-cli-ssh (ED25519)" in r.stderr, r.stderr
    finally:
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True)
