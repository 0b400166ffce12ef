"""Behaviours third-party clients (docker-py's own suite, the docker CLI, Compose v2) depend on,
each one found failing against berthd while passing against dockerd. Every test here failed
before its fix."""
import json
import time
import os
import subprocess
import tarfile
import io

import docker
import pytest


def client(daemon, version="1.41"):
    return docker.APIClient(base_url=daemon.host, version=version)


def test_swarm_and_plugin_endpoints_answer_as_an_inactive_swarm_dockerd(daemon):
    status, _, body = daemon.api("POST", "/v1.41/swarm/leave?force=1")
    assert status == 503 and json.loads(body)["message"] == "This node is not part of a swarm"
    for path in ["/swarm", "/services", "/nodes", "/tasks", "/secrets", "/configs", "/services/x", "/swarm/unlockkey"]:
        status, _, body = daemon.api("GET", "/v1.41" + path)
        assert status == 503, path
        assert json.loads(body)["message"].startswith("This node is not a swarm manager."), path
    status, _, body = daemon.api("GET", "/v1.41/plugins")
    assert status == 200 and json.loads(body) == []
    status, _, body = daemon.api("GET", "/v1.41/plugins/foo/json")
    assert status == 404 and json.loads(body)["message"] == 'plugin "foo" not found'
    status, _, _ = daemon.api("POST", "/v1.41/swarm/init", body="{}")
    assert status == 501


def test_kill_returns_once_the_container_has_exited(daemon):
    c = client(daemon)
    cid = c.create_container("busybox", ["sleep", "9999"])["Id"]
    c.start(cid)
    c.kill(cid)
    state = c.inspect_container(cid)["State"]
    assert state["Running"] is False and state["ExitCode"] == 137
    c.remove_container(cid)


def test_env_without_value_kept_in_config_hidden_from_the_process(daemon):
    c = client(daemon)
    cid = c.create_container("busybox", ["env"], environment={"Foo": None, "Other": "one", "Blank": ""})["Id"]
    env = c.inspect_container(cid)["Config"]["Env"]
    assert "Foo" in env and "Other=one" in env and "Blank=" in env
    c.start(cid)
    c.wait(cid)
    out = c.logs(cid).decode()
    assert "Other=one" in out and "\nFoo\n" not in out
    c.remove_container(cid)


@pytest.mark.parametrize("host_config, message", [
    ({"RestartPolicy": {"Name": "foo"}}, "invalid restart policy 'foo'"),
    ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}, "maximum retry count cannot be used with restart policy 'always'"),
    ({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}}, "maximum retry count cannot be negative"),
    ({"LogConfig": {"Type": "asdf"}}, 'error looking up logging plugin asdf: plugin "asdf" not found'),
    ({"LogConfig": {"Type": "json-file", "Config": {"foo": "1"}}}, "unknown log opt 'foo' for json-file log driver"),
])
def test_create_refuses_bad_restart_policies_and_log_drivers(daemon, host_config, message):
    body = json.dumps({"Image": "busybox", "HostConfig": host_config})
    status, _, out = daemon.api("POST", "/v1.41/containers/create", body=body, headers={"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(out)["message"] == message


# Fields dockerd 20.10 refuses at create (each compared on it: the same status and words) that
# berthd took, and then ignored or failed at the start; and queries it took as something else.
@pytest.mark.parametrize("body, message", [
    ({"WorkingDir": "relative"}, "the working directory 'relative' is invalid, it needs to be an absolute path"),
    ({"Env": ["=x"]}, "invalid environment variable: =x"),
    ({"StopSignal": "SIGBOGUS"}, "Invalid signal: SIGBOGUS"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 5}}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Timeout": 999}}, "Timeout in Healthcheck cannot be less than 1ms"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Retries": -1}}, "Retries in Healthcheck cannot be negative"),
    ({"HostConfig": {"OomScoreAdj": 5000}}, "Invalid value 5000, range for oom score adj is [-1000, 1000]"),
    ({"HostConfig": {"ExtraHosts": ["bad"]}}, 'bad format for add-host: "bad"'),
    ({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}}}, 'invalid port specification: "99999"'),
    ({"HostConfig": {"PortBindings": {"abc/tcp": [{"HostPort": "80"}]}}}, 'invalid port specification: "abc"'),
    ({"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/x", "BindOptions": {"Propagation": "shared"}}]}},
     'invalid mount config for type "volume": field BindOptions must not be specified'),
    ({"HostConfig": {"VolumesFrom": ["nosuch"]}}, "No such container: nosuch"),
    ({"HostConfig": {"Links": ["nosuch:alias"]}}, "could not get container for nosuch: No such container: nosuch"),
    ({"Image": "UPPER:case"}, "invalid reference format: repository name must be lowercase"),
])
def test_create_refuses_what_dockerd_refuses_in_its_words(daemon, body, message):
    body = dict({"Image": "busybox"}, **body)
    status, _, out = daemon.api("POST", "/v1.41/containers/create", body=json.dumps(body), headers={"Content-Type": "application/json"})
    # A 400 (not a 404: the docker CLI takes a 404 from create for a missing image and pulls).
    assert (status, json.loads(out)["message"]) == (400, message)


def test_create_checks_the_platform_and_queries_take_numbers_only(daemon):
    def create(q):
        return daemon.api("POST", "/v1.41/containers/create" + q, body='{"Image":"busybox"}', headers={"Content-Type": "application/json"})
    status, _, out = create("?platform=bogus")
    assert status == 400 and json.loads(out)["message"] == '"bogus": unknown operating system or architecture: invalid argument'
    status, _, out = create("?platform=windows/amd64")
    assert status == 404 and "does not match the specified platform: wanted windows/amd64, actual: linux/amd64" in json.loads(out)["message"]
    status, _, out = create("?platform=linux/amd64")
    assert status == 201
    cid = json.loads(out)["Id"]
    # `container:<name>` is resolved at the start, as dockerd (create's 404 made the CLI pull).
    r = daemon.docker("create", "--network", "container:nosuch", "busybox", "true")
    assert r.returncode == 0, r.stderr
    r = daemon.docker("start", r.stdout.strip())
    assert r.returncode != 0 and "No such container: nosuch" in r.stderr, r.stderr
    daemon.docker("start", cid, check=True)
    for path, message in (
        (f"/containers/{cid}/stop?t=abc", 'strconv.Atoi: parsing "abc": invalid syntax'),  # it waited the default 10 s
        (f"/containers/{cid}/resize?h=abc&w=10", 'strconv.Atoi: parsing "abc": invalid syntax'),
    ):
        status, _, out = daemon.api("POST", "/v1.41" + path)
        assert (status, json.loads(out)["message"]) == (400, message), path
    for q in ("since=abc", "until=abc"):
        status, _, out = daemon.api("GET", f"/v1.41/containers/{cid}/logs?stdout=1&{q}")
        assert (status, json.loads(out)["message"]) == (400, 'strconv.ParseInt: parsing "abc": invalid syntax'), q
    status, _, out = daemon.api("GET", "/v1.41/containers/json?limit=abc")
    assert status == 400
    # Without `path` a GET of the archive sent the container's whole root; dockerd refuses it.
    for method in ("GET", "HEAD", "PUT"):
        status, _, out = daemon.api(method, f"/v1.41/containers/{cid}/archive")
        assert status == 400 and (method == "HEAD" or json.loads(out)["message"] == "bad parameter: path cannot be empty"), (method, out)
    daemon.docker("rm", "-f", cid)


def test_login_to_a_registry_that_refuses_connections_fails_at_once(daemon):
    # The HTTP client retried a refused connection until its 15 s connect timeout.
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    t = time.monotonic()
    r = daemon.docker("login", "-u", "u", "--password-stdin", f"127.0.0.1:{port}", input="p\n")
    assert r.returncode != 0 and "connection refused" in r.stderr.lower(), r.stderr
    assert time.monotonic() - t < 5, f"the login took {time.monotonic() - t:.1f} s"


def test_create_on_two_networks_is_refused_before_api_1_44(daemon):
    body = json.dumps({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"a": {}, "bar": {}}}})
    status, _, out = daemon.api("POST", "/v1.41/containers/create", body=body, headers={"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(out)["message"] == "Container cannot be connected to network endpoints: a, bar"


def test_group_add_by_number_and_name(daemon):
    r = daemon.docker("run", "--rm", "--group-add", "1000", "--group-add", "daemon", "busybox", "id", "-G")
    assert r.returncode == 0, r.stderr
    groups = r.stdout.split()
    assert "1000" in groups and "1" in groups


def test_import_without_passwd_runs_as_root(daemon, tmp_path):
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    subprocess.run(["cp", "/bin/busybox", str(root / "bin/busybox")], check=True)
    os.symlink("busybox", root / "bin/id")
    tar = tmp_path / "nopasswd.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    assert daemon.docker("import", str(tar), "nopasswd:1").returncode == 0
    r = daemon.docker("run", "--rm", "nopasswd:1", "/bin/id")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("uid=0 gid=0")
    r = daemon.docker("run", "--rm", "-u", "root", "nopasswd:1", "/bin/id", "-u")
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr
    daemon.docker("rmi", "nopasswd:1")


def test_commit_of_a_container_never_started(daemon):
    assert daemon.docker("create", "--name", "never-started", "busybox", "true").returncode == 0
    r = daemon.docker("commit", "never-started", "never-started:img")
    assert r.returncode == 0, r.stderr
    daemon.docker("rm", "never-started")
    daemon.docker("rmi", "never-started:img")


def test_commit_with_pause_of_a_container_that_just_exited(daemon):
    c = client(daemon)
    for _ in range(5):
        cid = c.create_container("busybox", ["touch", "/test"])["Id"]
        c.start(cid)
        img = c.commit(cid, changes=["EXPOSE 8000", 'CMD ["bash"]'])["Id"]
        cfg = c.inspect_image(img)["Config"]
        assert "8000/tcp" in cfg["ExposedPorts"] and cfg["Cmd"] == ["bash"]
        c.remove_container(cid, force=True)
        c.remove_image(img)


def test_update_cpu_shares_of_a_running_container(daemon):
    assert daemon.docker("run", "-d", "--name", "upd-shares", "busybox", "sleep", "60").returncode == 0
    r = daemon.docker("update", "--cpu-shares", "512", "upd-shares")
    assert r.returncode == 0, r.stderr
    assert daemon.docker("inspect", "-f", "{{.HostConfig.CpuShares}}", "upd-shares").stdout.strip() == "512"
    daemon.docker("rm", "-f", "upd-shares")


def test_load_of_a_non_tar_reports_in_the_stream(daemon):
    with pytest.raises(docker.errors.ImageLoadError):
        docker.DockerClient(base_url=daemon.host, version="1.41").images.load(b"abc")


def test_exec_output_framing_follows_the_start_requests_tty(daemon):
    c = client(daemon)
    cid = c.create_container("busybox", "cat", stdin_open=True)["Id"]
    c.start(cid)
    cmd = 'sh -c "echo hello out; sleep 0.3; echo hello err >&2"'
    # A pty exec started with Tty false: framed, everything on stdout.
    out = c.exec_start(c.exec_create(cid, cmd, tty=True))
    assert out == b"hello out\r\nhello err\r\n"
    # Started with Tty true: the raw pty stream.
    out = c.exec_start(c.exec_create(cid, cmd, tty=True), tty=True)
    assert out == b"hello out\r\nhello err\r\n"
    # Keys of the exec config are matched case-insensitively, as Go decodes them: an invalid
    # `detachKeys` (docker-py's spelling) is refused, so it was read.
    status, _, out = daemon.api("POST", f"/v1.41/containers/{cid}/exec", body=json.dumps({"Cmd": ["true"], "detachKeys": "ctrl-"}),
                                headers={"Content-Type": "application/json"})
    assert status == 400 and "Invalid detach keys" in json.loads(out)["message"]
    c.remove_container(cid, force=True)


def test_archive_endpoints_see_volumes_of_a_stopped_container(daemon):
    c = client(daemon)
    cid = c.create_container("busybox", 'sh -c "echo -n data > /vol1/data.txt"', volumes=["/vol1"])["Id"]
    c.start(cid)
    c.wait(cid)
    strm, stat = c.get_archive(cid, "/vol1/data.txt")
    assert stat["name"] == "data.txt" and stat["size"] == 4
    tf = tarfile.open(fileobj=io.BytesIO(b"".join(strm)))
    assert tf.extractfile("data.txt").read() == b"data"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        info = tarfile.TarInfo("put.txt")
        info.size = 3
        t.addfile(info, io.BytesIO(b"put"))
    assert c.put_archive(cid, "/vol1", buf.getvalue())
    strm, _ = c.get_archive(cid, "/vol1/put.txt")
    assert tarfile.open(fileobj=io.BytesIO(b"".join(strm))).extractfile("put.txt").read() == b"put"
    c.remove_container(cid, v=True)


def test_archive_endpoints_see_volumes_of_a_running_container(daemon):
    c = client(daemon)
    cid = c.create_container("busybox", 'sh -c "echo -n live > /vol2/f; sleep 60"', volumes=["/vol2"])["Id"]
    c.start(cid)
    for _ in range(50):
        try:
            _, stat = c.get_archive(cid, "/vol2/f")
            break
        except docker.errors.NotFound:
            import time
            time.sleep(0.1)
    assert stat["size"] == 4
    c.remove_container(cid, v=True, force=True)


def test_legacy_links_env_hosts_names_and_removal(daemon):
    c = client(daemon)
    target = c.create_container("busybox", "cat", stdin_open=True, environment={"FOO": "1"}, ports=[80], name="lnk-target")["Id"]
    c.start(target)
    linker = c.create_container("busybox", "cat", stdin_open=True, name="lnk-parent",
                                host_config=c.create_host_config(links={"lnk-target": "myl"}))["Id"]
    c.start(linker)
    assert c.inspect_container(linker)["HostConfig"]["Links"] == ["/lnk-target:/lnk-parent/myl"]
    env = c.exec_start(c.exec_create(linker, "env")).decode()
    assert "MYL_NAME=/lnk-parent/myl" in env and "MYL_ENV_FOO=1" in env
    assert "MYL_PORT_80_TCP_PORT=80" in env
    hosts = c.exec_start(c.exec_create(linker, "cat /etc/hosts")).decode()
    ip = c.inspect_container(target)["NetworkSettings"]["IPAddress"]
    assert f"{ip}\tmyl {target[:12]} lnk-target" in hosts
    names = [x["Names"] for x in c.containers() if x["Id"] == target][0]
    assert names == ["/lnk-target", "/lnk-parent/myl"]
    c.remove_container("lnk-parent/myl", link=True)
    names = [x["Names"] for x in c.containers() if x["Id"] == target][0]
    assert names == ["/lnk-target"]
    assert c.inspect_container(linker)["HostConfig"]["Links"] is None
    c.remove_container(linker, force=True)
    c.remove_container(target, force=True)


def test_berth_cli_sends_the_flags_it_takes(daemon, tmp_path):
    """Flags the berth CLI parsed and dropped: `rm --link` removed the linked container itself
    instead of the link; `network connect --ip6/--link/--driver-opt`, `import --platform` and
    `network create --scope` were lost on the way."""
    d = daemon
    d.berth("run", "-d", "--name", "lnk2-target", "busybox", "sleep", "60", check=True)
    d.berth("run", "-d", "--name", "lnk2-parent", "--link", "lnk2-target:db", "busybox", "sleep", "60", check=True)
    assert d.berth("rm", "--link", "lnk2-parent/db").returncode == 0
    assert d.berth("inspect", "-f", "{{.State.Running}}", "lnk2-target").stdout.strip() == "true"  # still there, running
    assert d.berth("inspect", "-f", "{{json .HostConfig.Links}}", "lnk2-parent").stdout.strip() == "null"
    d.berth("network", "create", "--ipv6", "--subnet", "10.232.0.0/24", "--subnet", "fd00:232::/64", "v6net", check=True)
    d.berth("network", "connect", "--ip6", "fd00:232::55", "--link", "lnk2-target:t", "--driver-opt", "k=v", "v6net", "lnk2-parent", check=True)
    ep = json.loads(d.berth("inspect", "lnk2-parent").stdout)[0]["NetworkSettings"]["Networks"]["v6net"]
    assert ep["GlobalIPv6Address"] == "fd00:232::55" and ep["Links"] == ["lnk2-target:t"] and ep["DriverOpts"] == {"k": "v"}, ep
    d.berth("rm", "-f", "lnk2-parent", "lnk2-target", check=True)
    d.berth("network", "rm", "v6net", check=True)
    r = d.berth("network", "create", "--scope", "swarm", "swarmy")
    assert r.returncode != 0 and "swarm" in r.stderr, r.stderr
    tar = tmp_path / "empty.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("hello")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    for tool in ("berth", "docker"):
        d.run(tool, "import", "--platform", "linux/arm64/v8", str(tar), f"armish-{tool}:1", check=True)
        assert d.docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}/{{.Variant}}", f"armish-{tool}:1").stdout.strip() == "linux/arm64/v8"
        d.docker("rmi", f"armish-{tool}:1", check=True)
    r = d.berth("import", "--platform", "bogus", str(tar), "x:1")
    assert r.returncode != 0 and "unknown operating system or architecture" in r.stderr, r.stderr


def test_content_trust_asked_for_is_refused_and_turning_it_off_is_taken(daemon, monkeypatch):
    """The berth CLI knew no `--disable-content-trust` ("unknown flag" for scripts that pass it),
    and with DOCKER_CONTENT_TRUST=1, which asks the docker CLI to verify signatures, it ran and
    pulled unverified. Berth has no Notary client: trust asked for is refused in time (nothing
    reaches the daemon), trust turned off is taken, as the docker CLI reads flag and variable."""
    d = daemon
    assert d.berth("run", "--rm", "--disable-content-trust", "busybox", "true").returncode == 0
    assert d.docker("run", "--rm", "--disable-content-trust", "busybox", "true").returncode == 0
    r = d.berth("run", "--rm", "--disable-content-trust=maybe", "busybox", "true")
    assert r.returncode == 125 and 'invalid argument "maybe" for "--disable-content-trust" flag' in r.stderr, r.stderr
    r = d.berth("create", "--disable-content-trust=false", "busybox")
    assert r.returncode == 1 and "content trust is not supported" in r.stderr, r.stderr
    before = d.berth("ps", "-aq").stdout
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "1")
    for args, code in ((["run", "--rm", "busybox", "true"], 125), (["create", "busybox"], 1), (["pull", "busybox"], 1), (["push", "busybox"], 1)):
        r = d.berth(*args)
        assert r.returncode == code and "content trust is not supported" in r.stderr, (args, r.returncode, r.stderr)
    assert d.berth("ps", "-aq").stdout == before
    assert d.berth("run", "--rm", "--disable-content-trust", "busybox", "true").returncode == 0
    monkeypatch.setenv("DOCKER_CONTENT_TRUST", "0")
    assert d.berth("run", "--rm", "busybox", "true").returncode == 0


def test_default_platform_from_the_environment_as_the_docker_cli_takes_it(daemon, tmp_path, monkeypatch):
    """DOCKER_DEFAULT_PLATFORM is the docker CLI's default for `--platform` (import, run, create,
    pull, build); the berth CLI ignored it, importing and running for the host's platform instead."""
    d = daemon
    tar = tmp_path / "one.tar"
    with tarfile.open(tar, "w") as t:
        info = tarfile.TarInfo("hello")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
    monkeypatch.setenv("DOCKER_DEFAULT_PLATFORM", "linux/arm64/v8")
    for tool in ("berth", "docker"):
        d.run(tool, "import", str(tar), f"envplat-{tool}:1", check=True)
        assert d.docker("image", "inspect", "-f", "{{.Os}}/{{.Architecture}}/{{.Variant}}", f"envplat-{tool}:1").stdout.strip() == "linux/arm64/v8"
        d.docker("rmi", f"envplat-{tool}:1", check=True)
        # busybox is the host's (amd64): asked for arm64 by default, create refuses it.
        r = d.run(tool, "create", "--pull=never", "busybox")
        assert r.returncode != 0 and "linux/arm64" in r.stderr, (tool, r.returncode, r.stderr)
        cid = d.run(tool, "create", "--platform=", "busybox", check=True).stdout.strip()  # empty: no platform asked for
        d.docker("rm", cid, check=True)


def test_ps_command_quotes_arguments_with_spaces(daemon):
    cid = daemon.docker("create", "busybox", "sh", "-c", "echo a b").stdout.strip()
    c = client(daemon)
    cmd = [x["Command"] for x in c.containers(all=True) if x["Id"] == cid][0]
    assert cmd == "sh -c 'echo a b'"
    daemon.docker("rm", cid)


def test_network_endpoint_settings_echoed_and_mac_applied(daemon):
    c = client(daemon)
    net = c.create_network("epset", driver="bridge")["Id"]
    cid = c.create_container("busybox", "top", host_config=c.create_host_config(network_mode="epset"),
                             networking_config=c.create_networking_config({"epset": c.create_endpoint_config(
                                 driver_opt={"k": "v"}, link_local_ips=["169.254.8.8"], links=[("other", "bar")])}))["Id"]
    c.start(cid)
    n = c.inspect_container(cid)["NetworkSettings"]["Networks"]["epset"]
    assert n["DriverOpts"] == {"k": "v"}
    assert n["IPAMConfig"]["LinkLocalIPs"] == ["169.254.8.8"]
    assert n["Links"] == ["other:bar"]
    addrs = c.exec_start(c.exec_create(cid, "ip addr show eth0")).decode()
    assert "169.254.8.8" in addrs
    # a network-scoped link resolves once its target runs
    other = c.create_container("busybox", "top", name="other", host_config=c.create_host_config(network_mode="epset"))["Id"]
    c.start(other)
    res = c.exec_start(c.exec_create(cid, "nslookup bar 127.0.0.11")).decode()
    assert c.inspect_container(other)["NetworkSettings"]["Networks"]["epset"]["IPAddress"] in res
    c.remove_container(other, force=True)
    c.remove_container(cid, force=True)
    mac = "02:42:ac:11:00:0a"
    cid = c.create_container("busybox", ["sleep", "60"], mac_address=mac)["Id"]
    c.start(cid)
    assert c.inspect_container(cid)["NetworkSettings"]["MacAddress"] == mac
    assert mac in c.exec_start(c.exec_create(cid, "ip link show eth0")).decode()
    c.remove_container(cid, force=True)
    c.remove_network(net)


def test_ipv6_network_gives_containers_v6_addresses(daemon):
    c = client(daemon)
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="2001:389::/64", gateway="2001:389::ffff")])
    net = c.create_network("v6net", enable_ipv6=True, ipam=ipam)["Id"]
    info = c.inspect_network(net)
    assert info["EnableIPv6"] is True
    assert {"Subnet": "2001:389::/64", "Gateway": "2001:389::ffff"} in info["IPAM"]["Config"]
    cid = c.create_container("busybox", "top", host_config=c.create_host_config(network_mode="v6net"),
                             networking_config=c.create_networking_config({"v6net": c.create_endpoint_config(ipv6_address="2001:389::f00d")}))["Id"]
    c.start(cid)
    n = c.inspect_container(cid)["NetworkSettings"]["Networks"]["v6net"]
    assert n["IPAMConfig"]["IPv6Address"] == "2001:389::f00d"
    assert n["GlobalIPv6Address"] == "2001:389::f00d" and n["GlobalIPv6PrefixLen"] == 64
    assert n["IPv6Gateway"] == "2001:389::ffff"
    addrs = c.exec_start(c.exec_create(cid, "ip -6 addr show eth0")).decode()
    assert "2001:389::f00d/64" in addrs
    ping = c.exec_start(c.exec_create(cid, "ping -6 -c 1 -W 2 2001:389::ffff")).decode()
    assert "1 packets received" in ping
    c.remove_container(cid, force=True)
    c.remove_network(net)


def test_restarting_container_refuses_plain_remove_and_leaks_nothing_into_other_responses(daemon):
    # A kill sent to the shim of a container between runs once went to a closed descriptor
    # whose number an API connection had taken: the next response on that kept-alive
    # connection began with the shim frame (BadStatusLine('k\x00\x00\x00\x019')).
    c = client(daemon)
    for _ in range(5):
        cid = c.create_container("busybox", ["sleep", "0.2"], host_config=c.create_host_config(
            restart_policy={"Name": "always", "MaximumRetryCount": 0}, network_mode="none"))["Id"]
        c.start(cid)
        c.wait(cid)
        with pytest.raises(docker.errors.APIError) as exc:
            c.remove_container(cid)
        assert "stop the container before" in exc.value.explanation.lower()
        c.remove_container(cid, force=True)
        for _ in range(3):
            other = c.create_container("busybox", "true")["Id"]
            c.start(other)
            c.remove_container(other, force=True)


def test_network_ipam_options_echo_what_the_client_sent(daemon):
    c = client(daemon)
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="172.28.0.0/16", iprange="172.28.5.0/24", gateway="172.28.5.254")])
    net = c.create_network("ipamopts", ipam=ipam)["Id"]
    got = c.inspect_network(net)["IPAM"]
    assert got["Options"] is None
    assert got["Config"] == [{"Subnet": "172.28.0.0/16", "IPRange": "172.28.5.0/24", "Gateway": "172.28.5.254"}]
    c.remove_network(net)


def test_create_body_keys_match_case_insensitively(daemon):
    c = client(daemon)
    cid = c.create_container("busybox", "true", host_config=c.create_host_config(cpu_rt_period=1000, cpu_rt_runtime=500))["Id"]
    h = c.inspect_container(cid)["HostConfig"]   # docker-py spells them CPURealtime*
    assert h["CpuRealtimePeriod"] == 1000 and h["CpuRealtimeRuntime"] == 500
    c.remove_container(cid)


def test_network_auxiliary_addresses_kept_and_reserved(daemon):
    c = client(daemon)
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="172.29.0.0/16", gateway="172.29.0.1",
                                                                       aux_addresses={"a": "172.29.0.2"})])
    net = c.create_network("auxnet", ipam=ipam)["Id"]
    assert c.inspect_network(net)["IPAM"]["Config"][0]["AuxiliaryAddresses"] == {"a": "172.29.0.2"}
    cid = c.create_container("busybox", "top", host_config=c.create_host_config(network_mode="auxnet"))["Id"]
    c.start(cid)
    assert c.inspect_container(cid)["NetworkSettings"]["Networks"]["auxnet"]["IPAddress"] == "172.29.0.3"
    c.remove_container(cid, force=True)
    c.remove_network(net)


def test_build_with_dockerfile_outside_the_context_through_the_docker_cli(daemon, tmp_path):
    # The CLI's context tar ends without padding or end blocks when it adds the Dockerfile.
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "file.txt").write_text("hello")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile").write_text("FROM busybox\nCOPY . /src\n")
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_BUILDKIT="0")
    r = subprocess.run(["docker", "build", "-q", "-f", str(elsewhere / "Dockerfile"), "-t", "outside-df", str(ctx)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    r = daemon.docker("run", "--rm", "outside-df", "ls", "-a", "/src")
    assert r.stdout.split() == [".", "..", "file.txt"]
    daemon.docker("rmi", "outside-df")


def test_build_docker_py_behaviours(daemon, tmp_path):
    c = client(daemon)
    # docker-py sends an outside Dockerfile as two `dockerfile` values: the first is the name.
    base = tmp_path / "base"
    base.mkdir()
    (base / "file.txt").write_text("hello")
    (base / ".dockerignore").write_text(".dockerignore\n")
    df = tmp_path / "df" / "Dockerfile"
    df.parent.mkdir()
    df.write_text("FROM busybox\nCOPY . /src\n")
    lines = list(c.build(path=str(base), dockerfile=str(df), tag="ooc-py", decode=True))
    assert "Successfully tagged" in lines[-1]["stream"]
    cid = c.create_container("ooc-py", "ls -a /src")["Id"]
    c.start(cid)
    c.wait(cid)
    assert sorted(c.logs(cid).split()) == [b".", b"..", b"file.txt"]
    c.remove_container(cid)
    # stderr of a RUN step comes red, as dockerd colours it
    script = io.BytesIO(b'FROM busybox\nRUN sh -c ">&2 echo oops"')
    lines = [x.get("stream") for x in c.build(fileobj=script, decode=True, nocache=True)]
    assert "\x1b[91moops\n\x1b[0m" in lines
    # --add-host reaches RUN
    script = io.BytesIO(b"FROM busybox\nRUN grep -q 'extrahost.test' /etc/hosts")
    lines = list(c.build(fileobj=script, decode=True, nocache=True, extra_hosts={"extrahost.test": "127.0.0.1"}))
    assert not any("errorDetail" in x for x in lines), lines
    # an empty Dockerfile is a 400 before any stream
    with pytest.raises(docker.errors.APIError) as exc:
        list(c.build(fileobj=io.BytesIO(), tag="a/b/c"))
    assert exc.value.status_code == 400
    # cache-from: only those images stand in for steps
    text = b"FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax"
    list(c.build(fileobj=io.BytesIO(text), tag="cf1"))
    hits = sum("Using cache" in x.get("stream", "") for x in c.build(fileobj=io.BytesIO(text), tag="cf2", cache_from=["cf1"], decode=True))
    assert hits == 3
    c.remove_image("cf2")
    hits = sum("Using cache" in x.get("stream", "") for x in c.build(fileobj=io.BytesIO(text), tag="cf2", cache_from=["nosuchtag"], decode=True))
    assert hits == 0
    c.remove_image("cf2")
    c.remove_image("cf1")


def test_build_applies_dockerignore_to_what_a_client_must_send(daemon, tmp_path):
    d = tmp_path / "di"
    (d / "ignored" / "subdir").mkdir(parents=True)
    (d / "Dockerfile").write_text("FROM busybox\nADD . /test\n")
    (d / ".dockerignore").write_text("ignored\nDockerfile\n.dockerignore\n!ignored/subdir/excepted-file\n")
    (d / "kept").write_text("x")
    (d / "ignored" / "subdir" / "file").write_text("x")
    (d / "ignored" / "subdir" / "excepted-file").write_text("x")
    c = client(daemon)
    list(c.build(path=str(d), tag="dign"))
    cid = c.create_container("dign", ["find", "/test", "-type", "f"])["Id"]
    c.start(cid)
    c.wait(cid)
    assert sorted(c.logs(cid).decode().split()) == ["/test/ignored/subdir/excepted-file", "/test/kept"]
    c.remove_container(cid)
    c.remove_image("dign")


def test_volume_driver_is_looked_up_only_when_a_volume_needs_it(daemon):
    # docker-py's test_create_with_volume_driver: dockerd stores an unknown driver until a volume uses it
    c = client(daemon)
    cid = c.create_container("busybox", "true", host_config=c.create_host_config(volume_driver="foo"))["Id"]
    assert c.inspect_container(cid)["HostConfig"]["VolumeDriver"] == "foo"
    c.remove_container(cid)
    # a 404, as dockerd answers (the docker CLI then takes it for a missing image, with dockerd too)
    status, _, body = daemon.api("POST", "/containers/create", headers={"Content-Type": "application/json"},
                                 body='{"Image":"busybox","Volumes":{"/data":{}},"HostConfig":{"VolumeDriver":"foo"}}')
    assert status == 404 and b'error looking up volume plugin foo: plugin \\"foo\\" not found' in body, body


def test_logs_body_survives_a_removal_right_after_the_head(daemon):
    # docker-py's containers.run: logs(stream=True, follow=True), wait, remove, and only then
    # read the body. The log files are open before the head goes out, rotated ones included.
    import socket
    cid = daemon.docker("run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=5", "busybox", "sh", "-c",
                        "for i in $(seq 1 300); do echo line$i; done").stdout.strip()
    assert daemon.docker("wait", cid).stdout.strip() == "0"
    expected = daemon.docker("logs", cid).stdout
    assert expected.endswith("line300\n") and len(expected.splitlines()) > 50
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(f"GET /v1.41/containers/{cid}/logs?stdout=1&follow=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert daemon.docker("rm", "-f", cid).returncode == 0
    body = b""
    s.settimeout(30)
    while not body.endswith(b"0\r\n\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    # every line is in the body (framed, in chunks)
    assert b"line300\n" in body and body.count(b"line") == len(expected.splitlines()), body[-200:]



def test_logs_read_right_after_a_start_have_what_the_container_wrote_at_once(daemon):
    """docker-py's build tests start a container and read its logs at once. berthd answers the
    start sooner than dockerd, and the log was read empty when the container's first output came
    a few milliseconds after the answer (2 % of the time for `ls`; here always, with an 8 ms
    pause before the output). An empty log is waited on for 20 ms after the start."""
    api = client(daemon)
    for _ in range(3):
        c = api.create_container("busybox", ["sh", "-c", "usleep 8000; echo early"])
        api.start(c)
        assert api.logs(c) == b"early\n"
        api.wait(c)
        api.remove_container(c)
    # A container that writes nothing holds the read up 20 ms at most.
    import time
    c = api.create_container("busybox", ["sleep", "30"])
    api.start(c)
    t = time.monotonic()
    assert api.logs(c) == b""
    assert time.monotonic() - t < 0.5
    api.remove_container(c, force=True)
