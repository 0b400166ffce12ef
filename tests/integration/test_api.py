"""The Engine API on the wire: versions, headers, errors, and docker-py as a client."""
import json
import subprocess
import time

import docker
import pytest

from conftest import hijack, read_to_end


def test_ping_and_headers(daemon):
    status, h, body = daemon.api("GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert h["api-version"] == "1.44" and h["ostype"] == "linux" and h["docker-experimental"] == "false" and "server" in h
    status, h, body = daemon.api("HEAD", "/v1.41/_ping")
    assert status == 200 and body == b""


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.30", "/v1.41", "/v1.44"])
def test_version_prefixes(daemon, prefix):
    status, _, body = daemon.api("GET", prefix + "/version")
    v = json.loads(body)
    assert status == 200 and v["ApiVersion"] == "1.44" and v["MinAPIVersion"] == "1.24"


def test_version_out_of_range(daemon):
    status, h, body = daemon.api("GET", "/v9.99/version")
    assert status == 400
    assert json.loads(body)["message"] == "client version 9.99 is too new. Maximum supported API version is 1.44"
    assert h["content-type"] == "application/json"
    status, _, body = daemon.api("GET", "/v1.12/version")
    assert status == 400 and "too old" in json.loads(body)["message"]


def test_errors_in_dockers_words(daemon):
    status, _, body = daemon.api("GET", "/containers/doesnotexist/json")
    assert status == 404 and json.loads(body) == {"message": "No such container: doesnotexist"}
    status, _, body = daemon.api("POST", "/containers/create", body='{"Image":', headers={"Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["message"] == "unexpected end of JSON input"
    status, _, body = daemon.api("POST", "/containers/create", body='{bad', headers={"Content-Type": "application/json"})
    assert status == 400 and "invalid character 'b'" in json.loads(body)["message"]
    status, _, body = daemon.api("POST", "/containers/create", body='{"Image":"nosuchimage"}', headers={"Content-Type": "application/json"})
    assert status == 404 and json.loads(body) == {"message": "No such image: nosuchimage:latest"}
    status, _, _ = daemon.api("GET", "/no/such/route")
    assert status == 404


def test_name_conflict_409(daemon):
    daemon.berth("create", "--name", "dup", "busybox", "true", check=True)
    cid = daemon.berth("inspect", "--format", "{{.Id}}", "dup").stdout.strip()
    r = daemon.docker("create", "--name", "dup", "busybox", "true")
    assert r.returncode != 0
    assert f'Conflict. The container name "/dup" is already in use by container "{cid}"' in r.stderr
    assert daemon.berth("ps", "-a", "-q", "-f", "name=dup").stdout.split() == [cid[:12]]
    daemon.berth("rm", "dup", check=True)


def test_start_running_is_304(daemon):
    cid = daemon.berth("run", "-d", "busybox", "sleep", "30").stdout.strip()
    status, _, body = daemon.api("POST", f"/containers/{cid}/start")
    assert status == 304 and body == b""
    status, _, _ = daemon.api("DELETE", f"/containers/{cid}")
    assert status == 409
    status, _, _ = daemon.api("DELETE", f"/containers/{cid}?force=1")
    assert status == 204


def test_filters_both_shapes(daemon):
    daemon.berth("create", "--name", "filt", "busybox", "true", check=True)
    import urllib.parse
    for f in ['{"name":{"filt":true}}', '{"name":["filt"]}']:
        status, _, body = daemon.api("GET", "/containers/json?all=1&filters=" + urllib.parse.quote(f))
        assert status == 200 and [c["Names"] for c in json.loads(body)] == [["/filt"]]
    daemon.berth("rm", "filt", check=True)


def test_docker_py_runs_and_reads_logs(daemon):
    client = docker.DockerClient(base_url=daemon.host, version="auto")
    assert client.ping()
    out = client.containers.run("busybox", ["sh", "-c", "echo from docker-py"], remove=True)
    assert out == b"from docker-py\n"
    c = client.containers.run("busybox", ["sh", "-c", "echo bg; sleep 0.2"], detach=True, name="pyc")
    assert c.wait()["StatusCode"] == 0
    live = client.containers.run("busybox", ["sleep", "30"], detach=True)
    code, out = live.exec_run(["sh", "-c", "echo exec from docker-py; exit 4"])
    assert (code, out) == (4, b"exec from docker-py\n")
    live.remove(force=True)
    assert c.logs() == b"bg\n"
    c.reload()
    assert c.status == "exited"
    c.remove()
    assert ["busybox:latest"] in [i.tags for i in client.images.list()]
    assert client.info()["Driver"] == "overlay2"


def test_rename_conflicts(daemon):
    daemon.berth("create", "--name", "ren-a", "busybox", "true", check=True)
    daemon.berth("create", "--name", "ren-b", "busybox", "true", check=True)
    r = daemon.docker("rename", "ren-a", "ren-b")
    assert r.returncode != 0 and 'The container name "/ren-b" is already in use' in r.stderr
    r = daemon.berth("rename", "ren-a", "x")
    assert r.returncode != 0 and "Invalid container name" in r.stderr
    assert sorted(n for n in daemon.berth("ps", "-a", "--format", "{{.Names}}").stdout.split() if n.startswith("ren-")) == ["ren-a", "ren-b"]
    daemon.berth("rm", "ren-a", "ren-b", check=True)


def test_attach_to_stopped_container_waits_for_its_start(daemon):
    # dockerd's API accepts it (docker-compose attaches before starting existing containers);
    # the refusal is the docker CLI's, client-side, and berth's likewise.
    daemon.berth("run", "--name", "done", "busybox", "echo", "hello", check=True)
    r = daemon.berth("attach", "done")
    assert r.returncode != 0 and "You cannot attach to a stopped container, start it first" in r.stderr
    s, head = hijack(daemon, "/containers/done/attach?stream=1&stdout=1")
    assert head.startswith(b"HTTP/1.1 101")
    daemon.berth("start", "done", check=True)
    assert read_to_end(s).endswith(b"hello\n")
    daemon.berth("rm", "done", check=True)


def test_attach_replays_logs(daemon):
    import docker
    cli = docker.DockerClient(base_url=daemon.host)
    daemon.berth("run", "--name", "replayed", "busybox", "sh", "-c", "echo one; echo two >&2", check=True)
    c = cli.containers.get("replayed")
    # logs=1 without stream: what was written, then the end (a stopped container is fine).
    assert c.attach(stdout=True, stderr=True, logs=True, stream=False) == b"one\ntwo\n"
    assert c.attach(stdout=True, stderr=False, logs=True, stream=False) == b"one\n"
    daemon.berth("rm", "replayed", check=True)
    # logs=1 with stream on a running container: the past, then the live output.
    daemon.berth("run", "-d", "--name", "replay-live", "busybox", "sh", "-c", "echo before; sleep 1; echo after", check=True)
    time.sleep(0.5)
    out = b"".join(cli.containers.get("replay-live").attach(stdout=True, stderr=True, logs=True, stream=True))
    assert out == b"before\nafter\n", out
    daemon.berth("rm", "-f", "replay-live", check=True)


def test_events(fresh_daemon):
    import subprocess, os
    d = fresh_daemon
    env = dict(os.environ, DOCKER_HOST=d.host)
    start = time.time()
    live = subprocess.Popen(["docker", "events", "--filter", "type=container", "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
                            env=env, stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    d.berth("run", "--name", "ev", "-l", "team=a", "busybox", "sh", "-c", "exit 2", check=False)
    d.berth("rename", "ev", "ev2", check=True)
    d.berth("rm", "ev2", check=True)
    time.sleep(0.5)
    live.terminate()
    out = live.communicate(timeout=5)[0].splitlines()
    assert out[:4] == ["create ev", "attach ev", "start ev", "die ev"], out
    assert "rename ev2" in out and out[-1] == "destroy ev2"
    # past events, bounded by --until, with Docker's line format and filters
    until = str(int(time.time()) + 1)
    r = d.berth("events", "--since", str(int(start) - 1), "--until", until, "--filter", "event=die")
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and " container die " in lines[0] and "exitCode=2" in lines[0] and "team=a" in lines[0]
    r = d.docker("events", "--since", str(int(start) - 1), "--until", until, "--filter", "label=team=a", "--format", "{{json .}}")
    actions = [json.loads(l)["Action"] for l in r.stdout.splitlines()]
    assert actions[0] == "create" and "destroy" in actions
    r = d.berth("events", "--since", "1", "--until", until, "--filter", "type=image")
    assert " image import " in r.stdout


def test_info_registry_config_and_runtime_details(busybox):
    """`info` as dockerd 20.10 fills it: configured registries in RegistryConfig (CIDRs,
    per-registry index entries, Hub mirrors), the init binary and runc's commit."""
    from conftest import Daemon
    d = Daemon({"insecure-registries": ["myreg:5000", "10.0.0.0/8"], "registry-mirrors": ["http://127.0.0.1:5918"]}).start()
    try:
        info = json.loads(d.api("GET", "/info")[2])
        rc = info["RegistryConfig"]
        assert rc["InsecureRegistryCIDRs"] == ["10.0.0.0/8", "127.0.0.0/8"]
        assert rc["IndexConfigs"]["myreg:5000"] == {"Name": "myreg:5000", "Mirrors": [], "Secure": False, "Official": False}
        assert rc["IndexConfigs"]["docker.io"] == {"Name": "docker.io", "Mirrors": ["http://127.0.0.1:5918/"], "Secure": True, "Official": True}
        assert rc["Mirrors"] == ["http://127.0.0.1:5918/"]
        assert info["InitBinary"] == "docker-init" and "KernelMemoryTCP" in info
        out = d.docker("info").stdout
        assert "Insecure Registries:\n  myreg:5000\n  10.0.0.0/8\n  127.0.0.0/8\n" in out, out
        assert "Registry Mirrors:\n  http://127.0.0.1:5918/\n" in out and "Init Binary: docker-init" in out
    finally:
        d.stop()


def test_version_names_the_default_runtime_as_dockerd_does(busybox):
    """`docker version` lists the default runtime under its configured name with what its
    `--version` says, and `info`'s RuncCommit is that runtime's commit, as dockerd fills them.
    berthd listed runc's version (without its commit) whatever the default runtime was."""
    from conftest import Daemon
    # dockerd 20.10 here: {"Name": "runc", "Version": "1.1.5+ds1", "Details": {"GitCommit": "1.1.5+ds1-1+deb12u1"}}
    lines = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()
    dockerd_runc = {"Name": "runc", "Version": lines[0].split("version")[-1].strip(),
                    "Details": {"GitCommit": [x for x in lines if x.startswith("commit:")][0][len("commit:"):].strip()}}
    for default, expected in [("runc", dockerd_runc), (None, {"Name": "berth", "Version": "1.0.0", "Details": {"GitCommit": ""}})]:
        d = Daemon({"default-runtime": default} if default else None).start()
        try:
            version = json.loads(d.api("GET", "/version")[2])
            info = json.loads(d.api("GET", "/info")[2])
            assert info["DefaultRuntime"] == expected["Name"]
            assert version["Components"][1:] == [expected], version["Components"]
            assert info["RuncCommit"] == {"ID": expected["Details"]["GitCommit"], "Expected": expected["Details"]["GitCommit"]}
            out = d.docker("version").stdout
            assert f" {expected['Name']}:\n  Version:          {expected['Version']}\n" in out, out
        finally:
            d.stop()


def test_a_default_runtime_slow_to_say_its_version_holds_up_nothing_else(tmp_path):
    """`version` and `info` ask the default runtime for its version; one that takes its time
    (here 30 s) keeps those answers waiting, as in dockerd, but not every other request: the
    question is asked off the threads the API runs on. Asked on them, four waiting requests
    took every one of them and berthd stopped answering even /_ping."""
    import socket
    import threading
    from conftest import Daemon
    slow = tmp_path / "slow-runtime"
    slow.write_text('#!/bin/sh\n[ "$1" = --version ] && exec sleep 30\nexec runc "$@"\n')
    slow.chmod(0o755)
    d = Daemon({"runtimes": {"slow": {"path": str(slow)}}, "default-runtime": "slow"}).start()
    waiting = []
    try:
        def ask(path):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(40)
            s.connect(d.sock)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            waiting.append(s)
            try:
                s.recv(1)
            except OSError:
                pass
        threads = [threading.Thread(target=ask, args=(p,), daemon=True) for p in ["/version", "/info"] * 4]
        for t in threads:
            t.start()
        time.sleep(1)
        start = time.monotonic()
        assert d.api("GET", "/_ping")[2] == b"OK"
        assert d.api("GET", "/containers/json")[0] == 200
        assert time.monotonic() - start < 2
        assert all(t.is_alive() for t in threads)  # still waiting for the runtime, as dockerd would
    finally:
        for s in waiting:
            s.close()
        d.proc.kill()
        d.proc.wait()
        subprocess.run(["pkill", "-f", str(slow)])


def test_json_bodies_are_bounded(daemon):
    # A chunked JSON body that never ends must not grow the daemon: refused past 16 MiB.
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.sock)
    s.sendall(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * (1 << 20)
    for _ in range(20):
        s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    reply = b""
    s.settimeout(10)
    while b"\r\n\r\n" not in reply:
        reply += s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")
    s.close()
    status, _, _ = daemon.api("GET", "/_ping")
    assert status == 200


@pytest.mark.parametrize("body, message", [
    ({"Image": "busybox", "HostConfig": {"Memory": "1g"}}, "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"Image": 5}, "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Image of type string"),
    ({"Image": "busybox", "HostConfig": {"BlkioWeight": 70000}}, "json: cannot unmarshal number 70000 into Go struct field HostConfig.HostConfig.BlkioWeight of type uint16"),
    ({"Image": "busybox", "Env": "A=1"}, "json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type []string"),
    ({"Image": "busybox", "HostConfig": {"RestartPolicy": {"MaximumRetryCount": "x"}}},
     "json: cannot unmarshal string into Go struct field RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int"),
    ({"Image": "busybox", "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": 80}]}}},
     "json: cannot unmarshal number into Go struct field PortBinding.HostConfig.PortBindings.HostPort of type string"),
    ({"Image": "busybox", "HostConfig": {"Memory": 1.5}}, "json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ({"Image": "busybox", "Labels": {"a": 1}}, "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Labels of type string"),
    ({"Image": "busybox", "cmd": 5}, "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Cmd of type string"),
])
def test_create_bodies_are_typed_as_dockerd_decodes_them(daemon, body, message):
    # The messages are dockerd 20.10's, captured on this machine.
    status, _, out = daemon.api("POST", "/containers/create", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert status == 400 and json.loads(out)["message"] == message


def test_other_bodies_are_typed_as_dockerd_decodes_them(daemon):
    # dockerd 20.10's words, captured on this machine.
    daemon.berth("run", "-d", "--name", "typed", "busybox", "sleep", "60", check=True)
    cases = [
        ("/containers/typed/exec", {"Cmd": "ls"}, "json: cannot unmarshal string into Go struct field ExecConfig.Cmd of type []string"),
        ("/containers/typed/exec", {"Cmd": ["ls"], "Tty": "yes"}, "json: cannot unmarshal string into Go struct field ExecConfig.Tty of type bool"),
        ("/networks/create", {"Name": "x", "Internal": "yes"}, "json: cannot unmarshal string into Go struct field NetworkCreateRequest.Internal of type bool"),
        ("/networks/create", {"Name": "x", "IPAM": {"Config": [{"Subnet": 5}]}},
         "json: cannot unmarshal number into Go struct field IPAMConfig.IPAM.Config.Subnet of type string"),
        ("/volumes/create", {"Name": 5}, "json: cannot unmarshal number into Go struct field VolumeCreateBody.Name of type string"),
        ("/volumes/create", {"Name": "v", "Labels": {"a": 1}}, "json: cannot unmarshal number into Go struct field VolumeCreateBody.Labels of type string"),
        ("/containers/typed/update", {"Memory": "1g"}, "json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64"),
        ("/containers/typed/update", {"RestartPolicy": {"Name": 5}},
         "json: cannot unmarshal number into Go struct field RestartPolicy.RestartPolicy.Name of type string"),
    ]
    for path, body, message in cases:
        status, _, out = daemon.api("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        assert status == 400 and json.loads(out)["message"] == message, (path, out)
    daemon.berth("rm", "-f", "typed", check=True)


def test_hostile_json_found_by_fuzzing_does_not_crash_the_daemon(daemon):
    # Found by scripts/fuzz: a lone surrogate pair escape trapped the JSON parser (the daemon
    # died), and a number too large for a double became infinity, which no parser reads back.
    body = b'{"Image":"busybox","Labels":{"x":"\\udAaa\\udAaA"}}'
    status, _, out = daemon.api("POST", "/containers/create", body=body, headers={"Content-Type": "application/json"})
    assert status == 201, out
    cid = json.loads(out)["Id"]
    assert daemon.api("GET", "/_ping")[0] == 200
    status, _, out = daemon.api("POST", "/containers/create", body=b'{"Image":"busybox","StopTimeout":2444E444444444445}',
                                headers={"Content-Type": "application/json"})
    assert status == 400 and b"out of range" in out
    daemon.berth("rm", cid, check=True)


def test_dockerignore_with_many_stars_is_matched_quickly(daemon, tmp_path):
    # Found by scripts/fuzz: matching was exponential in the number of `*`.
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY . /c\n")
    (tmp_path / ".dockerignore").write_text("*" * 40 + "x\n" + "*a" * 20 + "b\n")
    (tmp_path / ("a" * 60)).write_text("kept")
    start = time.time()
    r = daemon.berth("build", "-q", "-t", "stars", str(tmp_path), timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.time() - start < 20
    daemon.berth("rmi", "stars")
