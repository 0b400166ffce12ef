"""Everyday docker CLI commands that failed against berthd and work against dockerd; each is
checked through the real docker CLI."""
import io
import json
import tarfile
import os
import socket
import subprocess
import threading
import time

import docker

from conftest import count_to_end, read_hijacked_to_end


def build(daemon, text, *args):
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_BUILDKIT="0")
    return subprocess.run(["docker", "build", "-q", *args, "-"], input=text, capture_output=True, text=True, env=env)


def test_image_volume_gives_containers_an_anonymous_volume(daemon):
    assert build(daemon, "FROM busybox\nVOLUME /v\n", "-t", "withvol").returncode == 0
    assert daemon.docker("run", "-d", "--name", "withvol-c", "withvol", "sleep", "30").returncode == 0
    mounts = json.loads(daemon.docker("inspect", "-f", "{{json .Mounts}}", "withvol-c").stdout)
    assert len(mounts) == 1 and mounts[0]["Type"] == "volume" and mounts[0]["Destination"] == "/v"
    daemon.docker("rm", "-f", "-v", "withvol-c")
    daemon.docker("rmi", "withvol")


def test_rmi_of_one_tag_emits_untag(daemon):
    daemon.docker("tag", "busybox", "untagme:a")
    daemon.docker("tag", "busybox", "untagme:b")
    since = str(int(time.time()) - 1)
    assert daemon.docker("rmi", "untagme:a").stdout.strip() == "Untagged: untagme:a"
    ev = daemon.docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "type=image",
                       "--format", "{{.Action}} {{.Actor.Attributes.name}}").stdout
    assert "untag untagme:a" in ev
    daemon.docker("rmi", "untagme:b")


def test_rmi_deletes_the_builds_intermediate_images_which_images_hides(fresh_daemon):
    daemon = fresh_daemon
    r = build(daemon, "FROM busybox\nENV A=1\nRUN echo x > /x\nCMD [\"true\"]\n", "-t", "steps")
    assert r.returncode == 0, r.stderr
    plain = daemon.docker("images", "-q", "--no-trunc").stdout.split()
    everything = daemon.docker("images", "-aq", "--no-trunc").stdout.split()
    assert len(everything) == len(plain) + 2   # the ENV and RUN steps' images: untagged parents
    out = daemon.docker("rmi", "steps").stdout
    assert out.count("Deleted:") == 3, out     # the image and both parents; busybox is tagged
    assert sorted(daemon.docker("images", "-aq", "--no-trunc").stdout.split()) == sorted(set(everything) - set(
        line.split()[-1] for line in out.splitlines() if line.startswith("Deleted:")))


def test_history_records_entrypoint_as_go_quotes_it(daemon):
    assert build(daemon, 'FROM busybox\nENTRYPOINT ["/bin/echo","ep"]\n', "-t", "ephist").returncode == 0
    hist = daemon.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "ephist").stdout
    assert 'ENTRYPOINT ["/bin/echo" "ep"]' in hist
    daemon.docker("rmi", "ephist")


def test_attach_before_start_of_an_exited_container(daemon):
    # docker-compose's `up` for an existing container: attach first, then start.
    c = docker.APIClient(base_url=daemon.host, version="1.41")
    cid = c.create_container("busybox", ["echo", "again"])["Id"]
    c.start(cid)
    c.wait(cid)
    sock = c.attach_socket(cid, params={"stdout": 1, "stderr": 1, "stream": 1})
    c.start(cid)
    data = b""
    sock._sock.settimeout(10)
    while True:
        chunk = sock._sock.recv(4096)
        if not chunk:
            break
        data += chunk
    assert b"again" in data
    c.remove_container(cid, force=True)


def test_published_port_binds_while_old_connections_are_in_time_wait(daemon):
    # Serve a port, close the server's side first: the kernel keeps TIME_WAIT sockets on it.
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    port = srv.getsockname()[1]
    srv.listen(5)
    for _ in range(3):
        cl = socket.create_connection(("127.0.0.1", port))
        conn, _ = srv.accept()
        conn.close()   # the server closes first: TIME_WAIT on its side
        cl.close()
    srv.close()
    tw = subprocess.run(["ss", "-tan", "state", "time-wait", f"( sport = :{port} )"], capture_output=True, text=True).stdout
    assert str(port) in tw
    r = daemon.docker("run", "-d", "--name", "tw-port", "-p", f"{port}:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
    assert r.returncode == 0, r.stderr
    # and the port is really held: a second container cannot take it
    r2 = daemon.docker("run", "-d", "--name", "tw-port2", "-p", f"{port}:80", "busybox", "sleep", "5")
    assert r2.returncode != 0 and "port is already allocated" in r2.stderr
    daemon.docker("rm", "-f", "tw-port", "tw-port2")


def serve(directory):
    import http.server
    import functools
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_build_from_a_remote_tarball_a_git_repository_and_a_dockerfile_url(daemon, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY hello.txt /hello.txt\n")
    (ctx / "hello.txt").write_text("from remote\n")
    www = tmp_path / "www"
    www.mkdir()
    subprocess.run(["tar", "-C", str(ctx), "-czf", str(www / "ctx.tar.gz"), "."], check=True)
    (www / "Dockerfile.txt").write_text("FROM busybox\nRUN echo from-url > /u\n")
    # a bare repository served over git's dumb HTTP protocol
    work = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(["cp", str(ctx / "Dockerfile"), str(ctx / "hello.txt"), str(work)], check=True)
    g = ["git", "-C", str(work), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(g + ["add", "."], check=True)
    subprocess.run(g + ["commit", "-qm", "c"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(www / "repo.git")], check=True)
    subprocess.run(["git", "-C", str(www / "repo.git"), "update-server-info"], check=True)
    httpd = serve(www)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_BUILDKIT="0")
    try:
        for url, tag in [(base + "/ctx.tar.gz", "remote-tar"), (base + "/repo.git#main", "remote-git")]:
            r = subprocess.run(["docker", "build", "-q", "-t", tag, url], capture_output=True, text=True, env=env)
            assert r.returncode == 0, (url, r.stderr)
            assert daemon.docker("run", "--rm", tag, "cat", "/hello.txt").stdout == "from remote\n"
            daemon.docker("rmi", tag)
        r = subprocess.run(["docker", "build", "-q", "-t", "remote-df", base + "/Dockerfile.txt"], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert daemon.docker("run", "--rm", "remote-df", "cat", "/u").stdout == "from-url\n"
        daemon.docker("rmi", "remote-df")
        r = subprocess.run(["docker", "build", "-q", base + "/missing.tar"], capture_output=True, text=True, env=env)
        assert r.returncode != 0 and "404" in r.stderr
        # The docker CLI fetches URLs itself; docker-py hands them to the daemon (`remote=`).
        c = docker.APIClient(base_url=daemon.host, version="1.41")
        for url, tag in [(base + "/ctx.tar.gz", "api-tar"), (base + "/repo.git#main", "api-git"), (base + "/Dockerfile.txt", "api-df")]:
            lines = list(c.build(path=url, tag=tag, decode=True))
            assert "Successfully tagged" in lines[-1].get("stream", ""), (url, lines[-3:])
            c.remove_image(tag)
    finally:
        httpd.shutdown()


def test_export_of_a_running_container_freezes_it_meanwhile(daemon, tmp_path):
    # A container swapping a directory for a symlink to / during the walk must not get host
    # files into the export: it is frozen meanwhile, then thawed.
    assert daemon.docker("run", "-d", "--name", "exp-live", "busybox", "sh", "-c",
                         "mkdir -p /d; while true; do rm -rf /d; ln -s / /d; rm /d; mkdir /d; echo x > /d/f; done").returncode == 0
    out = tmp_path / "exp.tar"
    for _ in range(5):
        r = daemon.docker("export", "-o", str(out), "exp-live")
        assert r.returncode == 0, r.stderr
        names = subprocess.run(["tar", "-tf", str(out)], capture_output=True, text=True).stdout.split()
        assert not any(n.startswith("d/etc/") or n.startswith("d/root/") or n.startswith("d/work") for n in names)
    state = json.loads(daemon.docker("inspect", "-f", "{{json .State}}", "exp-live").stdout)
    assert state["Running"] and not state["Paused"]
    daemon.docker("rm", "-f", "exp-live")


def test_build_stops_when_its_client_goes_away(daemon):
    # dockerd cancels a build whose client disconnected; it must not go on creating containers.
    import socket
    steps = "".join(f"RUN sleep 0.3 && echo step{i}\n" for i in range(20))
    ctx = io.BytesIO()
    with tarfile.open(fileobj=ctx, mode="w") as t:
        data = ("FROM busybox\n" + steps).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    body = ctx.getvalue()
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(f"POST /build?t=abandoned&nocache=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    s.recv(4096)           # the stream has started
    s.close()              # and the client leaves
    time.sleep(4)
    before = daemon.docker("ps", "-aq").stdout.split()
    time.sleep(2)
    after = daemon.docker("ps", "-aq").stdout.split()
    assert after == before          # no step containers keep appearing
    assert daemon.docker("image", "inspect", "abandoned").returncode != 0


def test_a_slow_reader_of_run_output_gets_all_of_it(daemon):
    # Bounding the attach stream by dropping or disconnecting would lose a slow reader's
    # output (dockerd delivers it all); keep it whole.
    env = dict(os.environ, DOCKER_HOST=daemon.host)
    r = subprocess.run(["sh", "-c", "docker run --rm --log-opt max-size=100m busybox sh -c 'yes 0123456789012345678901234567890 | head -c 33554432' "
                        "| (sleep 2; wc -c)"], capture_output=True, text=True, env=env, timeout=120)
    assert r.stdout.strip() == "33554432", r.stderr


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_a_slow_exec_reader_slows_the_process_not_the_daemons_memory(daemon):
    # exec output is flow-controlled: while the client does not read, berthd holds about a
    # megabyte and the process blocks on its pipe; then the client gets every byte.
    cid = daemon.docker("run", "-d", "busybox", "sleep", "300").stdout.strip()
    total = 256 << 20
    status, _, body = daemon.api("POST", f"/containers/{cid}/exec", headers={"Content-Type": "application/json"},
                                 body=json.dumps({"Cmd": ["sh", "-c", f"head -c {total} /dev/zero"], "AttachStdout": True, "AttachStderr": True}))
    exec_id = json.loads(body)["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    payload = json.dumps({"Detach": False, "Tty": True}).encode()
    s.sendall(f"POST /v1.44/exec/{exec_id}/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: Upgrade\r\n"
              f"Upgrade: tcp\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
    before = rss_kib(daemon.proc.pid)
    time.sleep(4)   # not reading
    grown = rss_kib(daemon.proc.pid) - before
    assert grown < 64 * 1024, f"berthd grew by {grown} KiB while the exec client did not read"
    got = read_hijacked_to_end(s)
    s.close()
    assert got == total
    daemon.docker("rm", "-f", cid)


def test_a_slow_attach_reader_slows_the_container_not_the_daemons_memory(daemon):
    total = 64 << 20
    status, _, body = daemon.api("POST", "/containers/create", headers={"Content-Type": "application/json"}, body=json.dumps({
        "Image": "busybox", "Cmd": ["sh", "-c", f"sleep 1; head -c {total} /dev/zero"], "Tty": True, "AttachStdout": True,
        "HostConfig": {"LogConfig": {"Type": "none"}}}))
    cid = json.loads(body)["Id"]
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(f"POST /v1.44/containers/{cid}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:   # the 101 before the start, so no output is missed
        head += s.recv(1)
    assert daemon.docker("start", cid).returncode == 0
    before = rss_kib(daemon.proc.pid)
    time.sleep(8)   # not reading (the debug daemon relays ~5 MB/s)
    grown = rss_kib(daemon.proc.pid) - before
    assert grown < 16 * 1024, f"berthd grew by {grown} KiB while the attached client did not read"
    got = count_to_end(s)
    s.close()
    assert got == total
    assert daemon.docker("wait", cid).stdout.strip() == "0"
    daemon.docker("rm", cid)


def test_cp_into_the_root_directory_of_a_running_container(daemon, tmp_path):
    # the running container's root is reached through /proc/<pid>/root, a link: "/" must be
    # followed, not taken for a file ("extraction point is not a directory")
    cid = daemon.docker("run", "-d", "busybox", "sleep", "60").stdout.strip()
    (tmp_path / "src").write_text("at the root")
    r = daemon.docker("cp", str(tmp_path / "src"), cid + ":/copied")
    assert r.returncode == 0, r.stderr
    assert daemon.docker("exec", cid, "cat", "/copied").stdout == "at the root"
    status, headers, _ = daemon.api("HEAD", f"/containers/{cid}/archive?path=/")
    assert status == 200
    daemon.docker("rm", "-f", cid)


def test_prunes_keep_what_label_bang_excludes_and_refuse_unknown_filters(fresh_daemon):
    """`label!` was ignored by every prune: `container prune --filter label!=keep` removed the
    containers it was meant to keep (and volumes, networks and images likewise). An unknown
    filter was ignored too, where dockerd refuses it."""
    d = fresh_daemon
    d.docker("create", "--name", "keepme", "-l", "keep=1", "busybox", "true", check=True)
    d.docker("create", "--name", "goes", "busybox", "true", check=True)
    assert d.docker("container", "prune", "-f", "--filter", "label!=keep").returncode == 0
    assert sorted(d.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()) == ["keepme"]
    for kind in ("volume", "network"):
        d.docker(kind, "create", "--label", "keep=1", kind[0] + "keep", check=True)
        d.docker(kind, "create", kind[0] + "goes", check=True)
    api = tuple(int(x) for x in d.docker("version", "--format", "{{.Server.APIVersion}}").stdout.strip().split("."))
    every = ["-a"] if api >= (1, 42) else []  # before 1.42 a prune takes named volumes too (how dockerd 20.10 was checked)
    assert d.docker("volume", "prune", *every, "-f", "--filter", "label!=keep=1").returncode == 0
    assert d.docker("volume", "ls", "-q").stdout.split() == ["vkeep"]
    assert d.docker("network", "prune", "-f", "--filter", "label!=keep").returncode == 0
    assert "nkeep" in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "ngoes" not in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    d.docker("create", "--name", "plain", "busybox", "true", check=True)
    d.docker("commit", "keepme", "img:keep", check=True)  # the container's label is the image's
    d.docker("commit", "plain", "img:goes", check=True)
    assert d.docker("image", "prune", "-a", "-f", "--filter", "label!=keep").returncode == 0
    tags = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "img:keep" in tags and "img:goes" not in tags and "busybox:latest" in tags, tags
    for args in (["container", "prune", "-f"], ["image", "prune", "-f"], ["volume", "prune", "-f"], ["network", "prune", "-f"], ["images"]):
        r = d.docker(*args, "--filter", "foo=bar")
        assert r.returncode != 0 and "invalid filter 'foo'" in r.stderr.lower(), (args, r.stderr)
    r = d.docker("images", "--filter", "dangling=maybe")
    assert r.returncode != 0 and "invalid filter 'dangling=[maybe]'" in r.stderr.lower(), r.stderr


def test_list_filters_dockerd_has(fresh_daemon):
    """Image `before`/`since`/`until` were ignored; container `before`, `since`, `volume`,
    `network`, `publish`, `expose` and `is-task` were refused: all as dockerd now."""
    d = fresh_daemon
    d.docker("create", "--name", "c1", "busybox", "true", check=True)
    d.docker("commit", "c1", "first:1", check=True)
    time.sleep(1.1)  # image times are the config's, to the nanosecond; a clear gap all the same
    d.docker("commit", "c1", "second:1", check=True)

    def images(*f):
        return d.docker("images", "--format", "{{.Repository}}", *sum((["--filter", x] for x in f), [])).stdout.split()
    assert images("before=second:1") == ["first", "busybox"]
    assert images("since=first:1") == ["second"]
    assert images("since=busybox", "before=second:1") == ["first"]
    assert images("until=2000-01-01T00:00:00Z") == []
    r = d.docker("images", "--filter", "before=nosuch:1")
    assert r.returncode != 0 and "No such image" in r.stderr, r.stderr
    d.docker("network", "create", "net1", check=True)
    # Running: a container that never ran lists no ports, so `publish`/`expose` find it only then (dockerd too).
    d.docker("run", "-d", "--name", "c2", "-v", "vol1:/data", "--network", "net1", "-p", "18080:80", "--expose", "9000",
             "busybox", "sleep", "60", check=True)
    d.docker("create", "--name", "c3", "busybox", "true", check=True)

    def ps(*f):
        return d.docker("ps", "-a", "--format", "{{.Names}}", *sum((["--filter", x] for x in f), [])).stdout.split()
    assert ps("before=c3") == ["c2", "c1"]
    assert ps("since=c1") == ["c3", "c2"]
    assert ps("volume=vol1") == ["c2"] and ps("volume=/data") == ["c2"] and ps("volume=nope") == []
    assert ps("network=net1") == ["c2"] and ps("network=bridge") == ["c3", "c1"]
    assert ps("publish=18080") == ["c2"] and ps("publish=18080/tcp") == ["c2"] and ps("publish=18080/udp") == []
    assert ps("expose=80") == ["c2"] and ps("expose=9000") == ["c2"]
    assert ps("is-task=true") == [] and ps("is-task=false") == ["c3", "c2", "c1"]
    r = d.docker("ps", "--filter", "status=sleepy")
    assert r.returncode != 0 and "status" in r.stderr and "sleepy" in r.stderr, r.stderr
    d.docker("rm", "-f", "c2", check=True)
