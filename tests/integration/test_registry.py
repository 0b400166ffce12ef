"""Pull and push against a real registry (Debian's docker-registry) and a fixture registry."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from fake_registry import FakeRegistry
from conftest import DOCKER, free_port



class RealRegistry:
    def __init__(self, htpasswd=None, tls=None):
        self.root = tempfile.mkdtemp(prefix="reg-", dir="/tmp")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        auth = ""
        if htpasswd:
            user, pw = htpasswd
            subprocess.run(["htpasswd", "-Bbc", self.root + "/htpasswd", user, pw], check=True, capture_output=True)
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {self.root}/htpasswd\n"
        open(self.root + "/config.yml", "w").write(
            f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {self.root}/data\n"
            f"http:\n  addr: {self.host}\n{tls or ''}{auth}")
        self.proc = subprocess.Popen(["docker-registry", "serve", self.root + "/config.yml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("registry did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def publish_and_forget(d, ref):
    """Push busybox as `ref`, then remove every local copy so the next pull must fetch it."""
    d.berth("tag", "busybox", ref, check=True)
    d.berth("push", ref, check=True)
    d.berth("rmi", ref, "busybox", check=True)


@pytest.fixture()
def fake_registry():
    reg = FakeRegistry()
    yield reg
    reg.close()


def first_layer(reg, name_tag):
    """The digest of the first layer of a manifest the fixture registry holds."""
    return json.loads(reg.manifests[name_tag][0])["layers"][0]["digest"]


@pytest.fixture()
def registry():
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry not installed")
    r = RealRegistry()
    yield r
    r.stop()


@pytest.fixture()
def docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dockercfg"))
    return tmp_path / "dockercfg" / "config.json"


@pytest.mark.parametrize("tool", ["berth", "docker"])
def test_push_then_pull(fresh_daemon, registry, tool):
    d = fresh_daemon
    ref = f"{registry.host}/team/box:1"
    d.berth("tag", "busybox", ref, check=True)
    r = d.run(tool, "push", ref)
    assert r.returncode == 0, r.stderr
    assert f"The push refers to repository [{registry.host}/team/box]" in r.stdout
    assert "Pushed" in r.stdout and "1: digest: sha256:" in r.stdout
    digest = r.stdout.split("digest: ")[1].split()[0]
    # pushing again skips what the registry has
    assert "Layer already exists" in d.run(tool, "push", ref).stdout
    d.berth("rmi", ref, "busybox", check=True)
    assert d.berth("images", "-q").stdout == ""
    r = d.run(tool, "pull", ref)
    assert r.returncode == 0, r.stderr
    assert "Pull complete" in r.stdout and f"Digest: {digest}" in r.stdout
    assert f"Status: Downloaded newer image for {ref}" in r.stdout
    assert d.berth("run", "--rm", ref, "echo", "pulled").stdout == "pulled\n"
    info = json.loads(d.docker("image", "inspect", ref).stdout)[0]
    assert info["RepoDigests"] == [f"{registry.host}/team/box@{digest}"]
    r = d.run(tool, "pull", ref)
    assert "Already exists" in r.stdout and "Image is up to date" in r.stdout
    # by digest
    d.berth("rmi", ref, check=True)
    r = d.run(tool, "pull", f"{registry.host}/team/box@{digest}")
    assert r.returncode == 0 and f"Digest: {digest}" in r.stdout
    assert d.run(tool, "run", "--rm", f"{registry.host}/team/box@{digest}", "echo", "by digest").stdout == "by digest\n"


def test_push_mounts_across_repositories(fresh_daemon, registry):
    d = fresh_daemon
    d.berth("tag", "busybox", f"{registry.host}/one/box:1", check=True)
    d.berth("push", f"{registry.host}/one/box:1", check=True)
    d.berth("tag", "busybox", f"{registry.host}/two/box:1", check=True)
    r = d.docker("push", f"{registry.host}/two/box:1")
    assert r.returncode == 0 and "Mounted from one/box" in r.stdout, r.stdout + r.stderr


def test_run_pulls_missing_image(fresh_daemon, registry):
    d = fresh_daemon
    ref = f"{registry.host}/auto:latest"
    d.berth("tag", "busybox", ref, check=True)
    d.berth("push", ref, check=True)
    d.berth("rmi", ref, check=True)
    r = d.berth("run", "--rm", ref, "echo", "auto")
    assert r.stdout == "auto\n" and "Unable to find image" in r.stderr
    d.berth("rmi", ref, check=True)
    r = d.docker("run", "--rm", ref, "echo", "auto-docker")
    assert r.stdout == "auto-docker\n", r.stderr


def test_missing_manifest(fresh_daemon, registry):
    r = fresh_daemon.docker("pull", f"{registry.host}/nothing:here")
    assert r.returncode != 0 and "manifest unknown" in r.stderr


def test_pull_progress_stream_shape(fresh_daemon, registry):
    d = fresh_daemon
    ref = f"{registry.host}/prog:1"
    publish_and_forget(d, ref)
    name, tag = ref.rsplit(":", 1)
    status, h, body = d.api("POST", f"/images/create?fromImage={name}&tag={tag}")
    assert status == 200 and h["transfer-encoding"] == "chunked" and h["content-type"] == "application/json"
    text = b"".join(part.split(b"\r\n", 1)[1] if b"\r\n" in part else b"" for part in [body])
    assert b'"status":"Pulling from prog","progressDetail":{},"id":"1"' in body
    assert b'"status":"Downloading","progressDetail":{"current":' in body
    assert b'"status":"Status: Downloaded newer image for ' in body


def test_basic_auth_login_push_pull(fresh_daemon, docker_config, tmp_path):
    if not shutil.which("docker-registry") or not shutil.which("htpasswd"):
        pytest.skip("docker-registry/htpasswd not installed")
    reg = RealRegistry(htpasswd=("alice", "s3cret"))
    try:
        d = fresh_daemon
        ref = f"{reg.host}/private/box:1"
        d.berth("tag", "busybox", ref, check=True)
        r = d.berth("push", ref)
        assert r.returncode != 0
        r = d.berth("login", "-u", "alice", "-p", "wrong", reg.host)
        assert r.returncode != 0 and "401" in r.stderr
        r = d.berth("login", "-u", "alice", "--password-stdin", reg.host, input="s3cret\n")
        assert r.stdout.strip() == "Login Succeeded", r.stderr
        cfg = json.load(open(docker_config))
        assert cfg["auths"][reg.host]["auth"] == "YWxpY2U6czNjcmV0"
        assert d.berth("push", ref).returncode == 0
        d.berth("rmi", ref, check=True)
        # the docker CLI reads the same config.json
        r = d.docker("pull", ref)
        assert r.returncode == 0, r.stderr
        assert "Logging in with your password grants" not in r.stderr
        r = d.docker("login", "-u", "alice", "-p", "s3cret", reg.host)
        assert "Login Succeeded" in r.stdout, r.stderr
        assert d.berth("logout", reg.host).stdout.strip() == f"Removing login credentials for {reg.host}"
        assert reg.host not in json.load(open(docker_config)).get("auths", {})
        # Interactive, as the docker CLI: prompts on a terminal, the password not echoed.
        from conftest import run_in_pty, BIN
        env = dict(os.environ, DOCKER_HOST=d.host)
        out, code = run_in_pty([os.path.join(BIN, "berth"), "login", reg.host], env, keys=[b"alice\r", b"s3cret\r"])
        assert code == 0 and b"Username: " in out and b"Password: " in out and b"Login Succeeded" in out, out
        assert b"s3cret" not in out
        assert json.load(open(docker_config))["auths"][reg.host]["auth"] == "YWxpY2U6czNjcmV0"
        r = d.berth("login", reg.host, input="alice\n")
        assert r.returncode != 0 and "Cannot perform an interactive login from a non TTY device" in r.stderr
    finally:
        reg.stop()


def test_bearer_token_flow(fresh_daemon, docker_config):
    reg = FakeRegistry(token_auth=True, users={"bob": "pw"})
    try:
        d = fresh_daemon
        ref = f"{reg.host}/tok/box:1"
        d.berth("tag", "busybox", ref, check=True)
        assert d.berth("push", ref).returncode != 0  # anonymous token refused by the token server
        d.berth("login", "-u", "bob", "-p", "pw", reg.host, check=True)
        r = d.berth("push", ref)
        assert r.returncode == 0, r.stderr
        assert any("scope=repository%3Atok%2Fbox%3Apull%2Cpush" in q or "scope=repository:tok/box:pull,push" in q for q in reg.token_requests)
        d.berth("rmi", ref, check=True)
        assert d.berth("pull", ref).returncode == 0
    finally:
        reg.close()


def test_corrupted_blob_is_refused(fresh_daemon, fake_registry):
    d, reg = fresh_daemon, fake_registry
    ref = f"{reg.host}/bad/box:1"
    publish_and_forget(d, ref)
    layer = first_layer(reg, "bad/box:1")
    reg.corrupt.add(layer)
    r = d.berth("pull", ref)
    assert r.returncode != 0 and "verification failed" in r.stderr
    assert d.berth("images", "-q").stdout == ""
    assert os.listdir(d.root + "/data/snapshots") == []
    assert not os.path.exists(d.root + "/data/ingest/" + layer[7:])


def test_a_blob_longer_than_its_descriptor_is_cut_off(fresh_daemon, fake_registry):
    """Issue 12: a registry that keeps sending past a layer's descriptor size is stopped there
    (the digest alone would be checked only at the end, after filling the disk)."""
    d, reg = fresh_daemon, fake_registry
    ref = f"{reg.host}/endless/box:1"
    publish_and_forget(d, ref)
    layer = first_layer(reg, "endless/box:1")
    reg.endless.add(layer)
    r = d.berth("pull", ref, timeout=120)
    assert r.returncode != 0 and "more than the" in r.stderr and "bytes its descriptor gives" in r.stderr, r.stderr
    assert not os.path.exists(d.root + "/data/ingest/" + layer[7:])
    assert d.berth("images", "-q").stdout == ""


def test_interrupted_pull_resumes(fresh_daemon, fake_registry):
    d, reg = fresh_daemon, fake_registry
    ref = f"{reg.host}/cut/box:1"
    publish_and_forget(d, ref)
    layer = first_layer(reg, "cut/box:1")
    reg.cut_once.add(layer)
    assert d.berth("pull", ref).returncode != 0
    partial = d.root + "/data/ingest/" + layer[7:]
    got = os.path.getsize(partial)
    assert 0 < got < len(reg.blobs[layer])
    assert d.berth("images", "-q").stdout == ""
    r = d.berth("pull", ref)
    assert r.returncode == 0, r.stderr
    assert reg.range_requests == [(layer, got)]  # only the missing part was asked for
    assert d.berth("run", "--rm", ref, "echo", "resumed").stdout == "resumed\n"


def test_search_uses_the_catalog(fresh_daemon, registry):
    d = fresh_daemon
    for name in ["apps/web", "apps/db", "other/x"]:
        d.berth("tag", "busybox", f"{registry.host}/{name}", check=True)
        d.berth("push", f"{registry.host}/{name}", check=True)
    out = d.docker("search", f"{registry.host}/apps").stdout.split()
    assert f"{registry.host}/apps/web" in out and f"{registry.host}/apps/db" in out and f"{registry.host}/other/x" not in out
    r = d.berth("search", "--limit", "1", f"{registry.host}/apps")
    assert len(r.stdout.splitlines()) == 2
    # Filters were dropped by the berth CLI and ignored by berthd; now dockerd's: checked first,
    # then applied (a catalog's repositories have no stars and are not official).
    for tool in ("berth", "docker"):
        assert d.run(tool, "search", "--filter", "stars=0", "--format", "{{.Name}}", f"{registry.host}/apps/web").stdout.split() == [
            f"{registry.host}/apps/web"], tool
        assert d.run(tool, "search", "--filter", "stars=1", "--format", "{{.Name}}", f"{registry.host}/apps").stdout == "", tool
        assert d.run(tool, "search", "--filter", "is-official=true", "--no-trunc", f"{registry.host}/apps").stdout.splitlines()[1:] == [], tool
        for bad, message in (("foo=1", "invalid filter 'foo'"), ("stars=many", "invalid filter 'stars=many'")):
            r = d.run(tool, "search", "--filter", bad, f"{registry.host}/apps")
            assert r.returncode != 0 and message in r.stderr, (tool, r.stderr)


def test_mirrors_for_any_registry(busybox, registry):
    from conftest import Daemon
    mirror = FakeRegistry()
    dead = free_port()
    d = Daemon(config={"registry-mirrors": [f"http://{mirror.host}"],
                       "mirrors": {registry.host: [f"http://127.0.0.1:{dead}"]},
                       "max-concurrent-downloads": 2}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "seed:1", check=True)
        # seed the Docker Hub mirror, then pull Hub names with no route to Docker Hub
        d.berth("tag", "seed:1", f"{mirror.host}/library/busybox:latest", check=True)
        d.berth("push", f"{mirror.host}/library/busybox:latest", check=True)
        d.berth("rmi", "seed:1", f"{mirror.host}/library/busybox:latest", check=True)
        r = d.docker("pull", "busybox")
        assert r.returncode == 0 and "Status: Downloaded newer image for busybox:latest" in r.stdout, r.stderr
        assert d.berth("run", "--rm", "busybox", "echo", "via mirror").stdout == "via mirror\n"
        # a mirror that is down: the origin serves
        d.berth("tag", "busybox", f"{registry.host}/direct:1", check=True)
        d.berth("push", f"{registry.host}/direct:1", check=True)
        d.berth("rmi", f"{registry.host}/direct:1", "busybox", check=True)
        r = d.berth("pull", f"{registry.host}/direct:1")
        assert r.returncode == 0, r.stderr
    finally:
        d.stop()
        mirror.close()


def test_bad_daemon_config_is_refused(tmp_path):
    import subprocess
    from conftest import BIN
    cfg = tmp_path / "daemon.json"
    cfg.write_text("{not json")
    r = subprocess.run([BIN + "/berthd", "--config-file", str(cfg), "-H", f"unix://{tmp_path}/s.sock"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "unable to configure the daemon" in r.stderr


def make_pki(d):
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, with openssl."""
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=berth-test-ca")
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"), ("client", "extendedKeyUsage=clientAuth")]:
        open(os.path.join(d, name + ".ext"), "w").write(ext + "\n")
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")
    return d


def test_tls_registry_with_test_ca_and_client_certs(busybox, tmp_path):
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry not installed")
    from conftest import Daemon
    pki = make_pki(str(tmp_path))
    tls = f"  tls:\n    certificate: {pki}/server.crt\n    key: {pki}/server.key\n    clientcas:\n      - {pki}/ca.crt\n"
    reg = RealRegistry(tls=tls)
    certs = tmp_path / "certs.d"
    hostdir = certs / reg.host
    hostdir.mkdir(parents=True)
    d = Daemon(config={"certs-dir": str(certs), "loopback-is-insecure": False}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        ref = f"{reg.host}/secure/box:1"
        d.berth("tag", "busybox", ref, check=True)
        r = d.berth("push", ref)  # no CA yet: the server certificate cannot be verified
        assert r.returncode != 0 and ("certificate" in r.stderr.lower() or "ssl" in r.stderr.lower()), r.stderr
        shutil.copy(pki + "/ca.crt", hostdir / "ca.crt")
    finally:
        d.proc.terminate(); d.proc.wait()
    d.start()  # TLS material is read per host on first use
    try:
        r = d.berth("push", ref)  # CA trusted, but the registry also wants a client certificate
        assert r.returncode != 0, r.stdout
        shutil.copy(pki + "/client.crt", hostdir / "client.cert")
        shutil.copy(pki + "/client.key", hostdir / "client.key")
        d.proc.terminate(); d.proc.wait(); d.start()
        r = d.berth("push", ref)
        assert r.returncode == 0, r.stderr
        d.berth("rmi", ref, check=True)
        r = d.docker("pull", ref)
        assert r.returncode == 0 and "Digest: sha256:" in r.stdout, r.stderr
    finally:
        d.stop()
        reg.stop()


def test_insecure_tls_registry_on_loopback(fresh_daemon, tmp_path):
    """Loopback registries are insecure, as in Docker: HTTPS without verification when they speak TLS."""
    if not shutil.which("docker-registry"):
        pytest.skip("docker-registry not installed")
    pki = make_pki(str(tmp_path))
    reg = RealRegistry(tls=f"  tls:\n    certificate: {pki}/server.crt\n    key: {pki}/server.key\n")
    try:
        d = fresh_daemon
        ref = f"{reg.host}/tlsbox:1"
        d.berth("tag", "busybox", ref, check=True)
        r = d.berth("push", ref)
        assert r.returncode == 0, r.stderr
        d.berth("rmi", ref, check=True)
        assert d.berth("pull", ref).returncode == 0
    finally:
        reg.stop()


def test_credential_helper(fresh_daemon, docker_config, tmp_path, monkeypatch):
    """credsStore: secrets go to docker-credential-<name>, config.json keeps an empty entry."""
    if not shutil.which("docker-registry") or not shutil.which("htpasswd"):
        pytest.skip("docker-registry/htpasswd not installed")
    store = tmp_path / "helper-store.json"
    helper = tmp_path / "bin" / "docker-credential-testhelper"
    helper.parent.mkdir()
    helper.write_text(f"""#!/usr/bin/env python3
import json, sys
path = {str(store)!r}
db = json.load(open(path)) if __import__("os").path.exists(path) else {{}}
action, data = sys.argv[1], sys.stdin.read().strip()
if action == "store":
    c = json.loads(data); db[c["ServerURL"]] = [c["Username"], c["Secret"]]; json.dump(db, open(path, "w"))
elif action == "get":
    if data not in db: print("credentials not found in native keychain"); sys.exit(1)
    print(json.dumps({{"ServerURL": data, "Username": db[data][0], "Secret": db[data][1]}}))
elif action == "erase":
    db.pop(data, None); json.dump(db, open(path, "w"))
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    docker_config.parent.mkdir(parents=True, exist_ok=True)
    docker_config.write_text('{"credsStore": "testhelper"}')
    reg = RealRegistry(htpasswd=("carol", "pw2"))
    try:
        d = fresh_daemon
        r = d.berth("login", "-u", "carol", "--password-stdin", reg.host, input="pw2")
        assert r.stdout.strip() == "Login Succeeded", r.stderr
        assert json.load(open(store))[reg.host] == ["carol", "pw2"]
        assert json.load(open(docker_config))["auths"][reg.host] == {}
        ref = f"{reg.host}/helped:1"
        d.berth("tag", "busybox", ref, check=True)
        assert d.berth("push", ref).returncode == 0
        d.berth("logout", reg.host, check=True)
        assert reg.host not in json.load(open(store))
    finally:
        reg.stop()


def test_chunked_upload(busybox, fake_registry):
    from conftest import Daemon
    reg = fake_registry
    d = Daemon(config={"upload-chunk-size": 300000}).start()
    try:
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        ref = f"{reg.host}/chunks/box:1"
        publish_and_forget(d, ref)
        assert len(reg.patches) >= 3 and reg.patches[0][1] == 0
        assert d.berth("run", "--rm", ref, "echo", "chunked").stdout == "chunked\n"
    finally:
        d.stop()


def test_pull_resumes_after_berthd_is_killed(fresh_daemon, fake_registry):
    d, reg = fresh_daemon, fake_registry
    ref = f"{reg.host}/killed/box:1"
    publish_and_forget(d, ref)
    layer = first_layer(reg, "killed/box:1")
    reg.slow.add(layer)
    env = dict(os.environ, DOCKER_HOST=d.host)
    puller = subprocess.Popen([DOCKER, "pull", ref], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    partial = d.root + "/data/ingest/" + layer[7:]
    for _ in range(100):
        if os.path.exists(partial) and os.path.getsize(partial) > 100_000:
            break
        time.sleep(0.05)
    d.kill9()
    puller.wait(timeout=10)
    got = os.path.getsize(partial)
    assert 0 < got < len(reg.blobs[layer])
    reg.slow.discard(layer)
    d.start()
    assert d.berth("images", "-q").stdout == ""  # nothing half-registered
    r = d.berth("pull", ref)
    assert r.returncode == 0, r.stderr
    assert (layer, got) in reg.range_requests  # only the rest was fetched
    assert d.berth("run", "--rm", ref, "echo", "whole").stdout == "whole\n"


def test_save_of_a_pulled_image(fresh_daemon, registry, tmp_path):
    """Pulled layers are kept compressed; save decompresses each once and cleans up after."""
    import tarfile
    d = fresh_daemon
    ref = f"{registry.host}/saved/box:1"
    publish_and_forget(d, ref)
    d.berth("pull", ref, check=True)
    out = tmp_path / "pulled.tar"
    d.berth("save", "-o", str(out), ref, check=True)
    layers = json.load(tarfile.open(out).extractfile("manifest.json"))[0]["Layers"]
    index = json.load(tarfile.open(out).extractfile("index.json"))
    assert len(layers) == 1 and index["manifests"][0]["annotations"]["io.containerd.image.name"] == ref
    assert os.listdir(d.root + "/data/tmp") == []
    d.berth("rmi", ref, check=True)
    assert "Loaded image: " + ref in d.berth("load", "-i", str(out)).stdout
    assert d.berth("run", "--rm", ref, "echo", "round trip").stdout == "round trip\n"


@pytest.mark.parametrize("tool", ["berth", "docker"])
def test_all_tags_push_and_pull(fresh_daemon, registry, tool):
    """`push -a` / `pull -a`: no tag on the wire means every tag, as dockerd."""
    d = fresh_daemon
    repo = f"{registry.host}/all-{tool}/box"
    for t in ["1", "2", "3"]:
        d.berth("tag", "busybox", f"{repo}:{t}", check=True)
    r = d.run(tool, "push", "-a", f"{repo}:1")
    assert r.returncode != 0 and "tag can't be used with --all-tags/-a" in r.stderr, r.stderr
    r = d.run(tool, "push", "-a", repo)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("The push refers to repository") == 1, r.stdout
    assert all(f"{t}: digest: sha256:" in r.stdout for t in "123"), r.stdout
    for t in "123":
        d.berth("rmi", f"{repo}:{t}", check=True)
    r = d.run(tool, "pull", "-a", repo)
    assert r.returncode == 0, r.stderr
    assert f"Status: Downloaded newer image for {repo}" in r.stdout, r.stdout
    assert sorted(d.berth("images", "--format", "{{.Tag}}", repo).stdout.split()) == ["1", "2", "3"]
    r = d.run(tool, "pull", "-a", repo)
    assert f"Status: Image is up to date for {repo}" in r.stdout, r.stdout


@pytest.mark.parametrize("config, words", [
    ({"userland-proxy": False}, "not supported by Berth: userland-proxy"),
    ({"log-driver": "journald", "live-restore": True}, "not supported by Berth: live-restore, log-driver"),
    ({"no-such-option": 1}, "the following directives don't match any configuration option: no-such-option"),
])
def test_daemon_config_keys_berth_does_not_act_on_are_refused(tmp_path, config, words):
    # never accepted and ignored: an operator must not believe an option is on that is not
    import json as _json
    from conftest import BIN
    cfg = tmp_path / "daemon.json"
    cfg.write_text(_json.dumps(config))
    r = subprocess.run([BIN + "/berthd", "--config-file", str(cfg), "-H", f"unix://{tmp_path}/s.sock"], capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and words in r.stderr, r.stderr
