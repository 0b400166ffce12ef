"""berthd over TCP: mutual TLS (the docker CLI and docker-py with DOCKER_TLS_VERIFY, hijacked
streams included), clients without a certificate from the CA refused at the handshake, plain TCP
only when asked for explicitly."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import BIN, DOCKER, Daemon, free_port
from test_registry import make_pki



@pytest.fixture(scope="module")
def tls_daemon(busybox, tmp_path_factory):
    pki = make_pki(str(tmp_path_factory.mktemp("pki")))
    port = free_port()
    d = Daemon(args=["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", pki + "/ca.crt",
                     "--tlscert", pki + "/server.crt", "--tlskey", pki + "/server.key"]).start()
    d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
    # The docker CLI's layout: ca.pem, cert.pem, key.pem in DOCKER_CERT_PATH.
    certs = tmp_path_factory.mktemp("client")
    for src, dst in [("ca.crt", "ca.pem"), ("client.crt", "cert.pem"), ("client.key", "key.pem")]:
        shutil.copy(os.path.join(pki, src), certs / dst)
    d.tcp = f"tcp://127.0.0.1:{port}"
    d.pki = pki
    d.env = dict(os.environ, DOCKER_HOST=d.tcp, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(certs), DOCKER_BUILDKIT="0")
    yield d
    d.stop()


def docker(d, *args, **kw):
    return subprocess.run([DOCKER, *args], env=d.env, capture_output=True, text=True, timeout=120, **kw)


def test_docker_cli_over_mutual_tls(tls_daemon, tmp_path):
    d = tls_daemon
    r = docker(d, "run", "--rm", "busybox", "echo", "over tls")
    assert r.returncode == 0 and r.stdout == "over tls\n", r.stderr
    r = docker(d, "run", "-i", "--rm", "busybox", "cat", input="stdin through the hijack\n")
    assert r.stdout == "stdin through the hijack\n", r.stderr
    cid = docker(d, "run", "-d", "busybox", "sh", "-c", "echo logged; sleep 60").stdout.strip()
    assert docker(d, "exec", cid, "echo", "exec over tls").stdout == "exec over tls\n"
    assert docker(d, "logs", cid).stdout == "logged\n"
    (tmp_path / "f").write_text("copied")
    assert docker(d, "cp", str(tmp_path / "f"), cid + ":/f").returncode == 0
    assert docker(d, "exec", cid, "cat", "/f").stdout == "copied"
    docker(d, "rm", "-f", cid)
    r = docker(d, "build", "-q", "-t", "tls-built", "-", input="FROM busybox\nRUN echo built > /b\n")
    assert r.returncode == 0, r.stderr
    assert docker(d, "run", "--rm", "tls-built", "cat", "/b").stdout == "built\n"
    # the unix socket still answers
    assert d.berth("ps").returncode == 0


def test_docker_py_over_mutual_tls(tls_daemon, monkeypatch):
    import docker as dockerpy
    # requests lets these override a session's CA file (psf/requests#3829); this machine sets them
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    d = tls_daemon
    tls = dockerpy.tls.TLSConfig(client_cert=(d.pki + "/client.crt", d.pki + "/client.key"), ca_cert=d.pki + "/ca.crt", verify=True)
    c = dockerpy.DockerClient(base_url="https://" + d.tcp[len("tcp://"):], tls=tls)
    assert c.containers.run("busybox", "echo hi", remove=True) == b"hi\n"


def test_clients_without_the_cas_certificate_are_refused(tls_daemon, tmp_path):
    d = tls_daemon
    url = "https://" + d.tcp[len("tcp://"):] + "/_ping"
    # no client certificate
    r = subprocess.run(["curl", "-sS", "--cacert", d.pki + "/ca.crt", url], capture_output=True, text=True)
    assert r.returncode != 0 and r.stdout != "OK", r.stdout
    # a client certificate from another CA
    other = make_pki(str(tmp_path))
    r = subprocess.run(["curl", "-sS", "--cacert", d.pki + "/ca.crt", "--cert", other + "/client.crt", "--key", other + "/client.key", url],
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stdout != "OK", r.stdout
    # plain HTTP to the TLS port
    r = subprocess.run(["curl", "-sS", "--max-time", "5", "http://" + d.tcp[len("tcp://"):] + "/_ping"], capture_output=True, text=True)
    assert r.stdout != "OK"
    # the right certificate works
    r = subprocess.run(["curl", "-sS", "--cacert", d.pki + "/ca.crt", "--cert", d.pki + "/client.crt", "--key", d.pki + "/client.key", url],
                       capture_output=True, text=True)
    assert r.stdout == "OK", r.stderr


def test_plain_tcp_is_refused_unless_asked_for(tmp_path):
    port = free_port()
    r = subprocess.run([BIN + "/berthd", "-H", f"tcp://127.0.0.1:{port}", "--data-root", str(tmp_path / "d"), "--exec-root", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "refusing to listen on tcp://127.0.0.1" in r.stderr and "--tlsverify" in r.stderr
    r = subprocess.run([BIN + "/berthd", "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--data-root", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "--tlsverify needs --tlscacert, --tlscert and --tlskey" in r.stderr
    d = Daemon(args=["-H", f"tcp://127.0.0.1:{port}", "--insecure-plain-tcp"]).start()
    try:
        r = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{port}/_ping"], capture_output=True, text=True)
        assert r.stdout == "OK"
    finally:
        d.stop()


@pytest.fixture
def sshd(daemon, tmp_path):
    """sshd on loopback whose one key may run only `berth system dial-stdio` toward `daemon`."""
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server not installed")
    os.makedirs("/run/sshd", exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True)
    pub = (tmp_path / "id.pub").read_text().strip()
    (tmp_path / "authorized_keys").write_text(
        f'command="DOCKER_HOST={daemon.host} {BIN}/berth system dial-stdio",no-pty,no-port-forwarding,no-agent-forwarding {pub}\n')
    port = free_port()
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path}/host\nAuthorizedKeysFile {tmp_path}/authorized_keys\n"
        f"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\n"
        f"PidFile {tmp_path}/sshd.pid\n")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(tmp_path / "sshd_config")], stderr=subprocess.DEVNULL)
    # The docker CLI runs `ssh … docker system dial-stdio`; this ssh brings the test key.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ssh").write_text(f'#!/bin/sh\nexec /usr/bin/ssh -i {tmp_path}/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null '
                                f'-o LogLevel=ERROR "$@"\n')
    (bindir / "ssh").chmod(0o755)
    for _ in range(50):
        if subprocess.run(["sh", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], executable="/bin/bash").returncode == 0:
            break
        time.sleep(0.1)
    yield dict(os.environ, DOCKER_HOST=f"ssh://root@127.0.0.1:{port}", PATH=f"{bindir}:{os.environ['PATH']}")
    proc.terminate()
    proc.wait()


def test_docker_cli_over_ssh_through_berth_dial_stdio(sshd):
    r = subprocess.run([DOCKER, "run", "--rm", "busybox", "echo", "over ssh"], env=sshd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "over ssh\n", r.stderr
    r = subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env=sshd, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "1.44", r.stderr


def test_berth_over_ssh(sshd):
    berth = [BIN + "/berth"]
    r = subprocess.run(berth + ["run", "--rm", "busybox", "echo", "berth over ssh"], env=sshd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "berth over ssh\n", r.stderr
    r = subprocess.run(berth + ["run", "-i", "--rm", "busybox", "cat"], env=sshd, input="piped\n", capture_output=True, text=True, timeout=60)
    assert r.stdout == "piped\n", r.stderr
    r = subprocess.run(berth + ["-H", "ssh://root@127.0.0.1:1", "ps"], env=sshd, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def test_berth_over_mutual_tls(tls_daemon, tmp_path):
    d = tls_daemon
    berth = [BIN + "/berth"]
    r = subprocess.run(berth + ["run", "--rm", "busybox", "echo", "berth over tls"], env=d.env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "berth over tls\n", r.stderr
    r = subprocess.run(berth + ["run", "-i", "--rm", "busybox", "cat"], env=d.env, input="piped over tls\n", capture_output=True, text=True, timeout=60)
    assert r.stdout == "piped over tls\n", r.stderr
    # a client certificate from another CA: the handshake fails, the CLI says so
    other = make_pki(str(tmp_path))
    bad = tmp_path / "bad"
    bad.mkdir()
    for src, dst in [("ca.crt", "ca.pem"), ("client.crt", "cert.pem"), ("client.key", "key.pem")]:
        shutil.copy(os.path.join(other if src != "ca.crt" else d.pki, src), bad / dst)
    r = subprocess.run(berth + ["ps"], env=dict(d.env, DOCKER_CERT_PATH=str(bad)), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "error during connect" in r.stderr, r.stderr
    # a server certificate from a CA the client does not trust
    wrong_ca = tmp_path / "wrongca"
    wrong_ca.mkdir()
    for src, dst in [("ca.crt", "ca.pem"), ("client.crt", "cert.pem"), ("client.key", "key.pem")]:
        shutil.copy(os.path.join(other if src == "ca.crt" else d.pki, src), wrong_ca / dst)
    r = subprocess.run(berth + ["ps"], env=dict(d.env, DOCKER_CERT_PATH=str(wrong_ca)), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "certificate verify failed" in r.stderr, r.stderr


def test_contexts_are_shared_with_the_docker_cli(tls_daemon, tmp_path):
    d = tls_daemon
    cfg = tmp_path / "cfg"
    env = dict(os.environ, DOCKER_CONFIG=str(cfg))
    env.pop("DOCKER_HOST", None)
    certs = d.env["DOCKER_CERT_PATH"]
    berth = [BIN + "/berth"]
    # made by berth, used by the docker CLI
    r = subprocess.run(berth + ["context", "create", "remote-tls", "--description", "berthd over TLS", "--docker",
                                f"host={d.tcp},ca={certs}/ca.pem,cert={certs}/cert.pem,key={certs}/key.pem"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "remote-tls", r.stderr
    r = subprocess.run([DOCKER, "--context", "remote-tls", "run", "--rm", "busybox", "echo", "via context"], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout == "via context\n", r.stderr
    # made by the docker CLI, used by berth
    r = subprocess.run([DOCKER, "context", "create", "by-docker", "--docker", f"host=unix://{d.sock}"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(berth + ["--context", "by-docker", "ps", "-q"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # use: both see the current context
    assert subprocess.run(berth + ["context", "use", "remote-tls"], env=env, capture_output=True).returncode == 0
    r = subprocess.run([DOCKER, "context", "ls", "--format", "{{.Name}} {{.Current}}"], env=env, capture_output=True, text=True)
    assert "remote-tls true" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(berth + ["run", "--rm", "busybox", "echo", "current context"], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout == "current context\n", r.stderr
    ls = subprocess.run(berth + ["context", "ls"], env=env, capture_output=True, text=True).stdout
    assert "remote-tls *" in ls and "by-docker" in ls
    inspect = subprocess.run(berth + ["context", "inspect", "remote-tls"], env=env, capture_output=True, text=True).stdout
    assert '"Host": "' + d.tcp + '"' in inspect and "ca.pem" in inspect
    # DOCKER_HOST wins over the current context, -H and --context conflict, rm refuses the current one
    r = subprocess.run(berth + ["-H", "tcp://x:1", "--context", "by-docker", "ps"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "either specify --host or --context" in r.stderr
    # export / import, both ways: the TLS material travels, the imported context works
    exported = tmp_path / "x.dockercontext"
    r = subprocess.run(berth + ["context", "export", "remote-tls", str(exported)], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and f'Written file "{exported}"' in r.stderr, r.stderr
    r = subprocess.run([DOCKER, "context", "import", "docker-imported", str(exported)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([DOCKER, "--context", "docker-imported", "version", "--format", "{{.Server.Os}}"], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "linux", r.stderr
    by_docker = subprocess.run([DOCKER, "context", "export", "remote-tls", "-"], env=env, capture_output=True).stdout
    r = subprocess.run(berth + ["context", "import", "berth-imported", "-"], env=env, input=by_docker, capture_output=True)
    assert r.returncode == 0 and b'Successfully imported context "berth-imported"' in r.stderr, r.stderr
    r = subprocess.run(berth + ["--context", "berth-imported", "run", "--rm", "busybox", "echo", "imported"], env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout == "imported\n", r.stderr
    r = subprocess.run(berth + ["context", "import", "berth-imported", str(exported)], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and 'context "berth-imported" already exists' in r.stderr
    # a hostile archive: anything but meta.json and the three TLS files is refused, nothing stored
    import io, tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("meta.json", b'{"Name":"x","Endpoints":{"docker":{"Host":"tcp://h:1"}}}'), ("../../evil", b"x")):
            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    r = subprocess.run(berth + ["context", "import", "hostile", "-"], env=env, input=buf.getvalue(), capture_output=True)
    assert r.returncode != 0 and b"unexpected entry" in r.stderr and not (tmp_path / "evil").exists()
    assert "hostile" not in subprocess.run(berth + ["context", "ls", "-q"], env=env, capture_output=True, text=True).stdout
    subprocess.run(berth + ["context", "rm", "berth-imported", "docker-imported"], env=env, capture_output=True)
    r = subprocess.run(berth + ["context", "rm", "remote-tls"], env=env, capture_output=True, text=True)
    assert r.returncode != 0 and "is in use" in r.stderr
    assert subprocess.run(berth + ["context", "use", "default"], env=env, capture_output=True).returncode == 0
    assert subprocess.run(berth + ["context", "rm", "remote-tls", "by-docker"], env=env, capture_output=True).returncode == 0
    assert "remote-tls" not in subprocess.run([DOCKER, "context", "ls"], env=env, capture_output=True, text=True).stdout


def test_machine_certs_set_up_a_remote_daemon(busybox, tmp_path):
    out = subprocess.run([BIN + "/berth", "machine", "certs", "--dir", str(tmp_path / "m"), "127.0.0.1"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    m = str(tmp_path / "m")
    text = subprocess.run(["openssl", "x509", "-in", m + "/server/cert.pem", "-noout", "-text"], capture_output=True, text=True).stdout
    assert "id-ecPublicKey" in text and "IP Address:127.0.0.1" in text and "TLS Web Server Authentication" in text
    assert oct(os.stat(m + "/client/key.pem").st_mode & 0o777) == "0o600"
    assert "export DOCKER_TLS_VERIFY=1" in out.stdout and f"export DOCKER_CERT_PATH={m}/client" in out.stdout
    port = free_port()
    d = Daemon(args=["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", m + "/server/ca.pem",
                     "--tlscert", m + "/server/cert.pem", "--tlskey", m + "/server/key.pem"]).start()
    try:
        env = dict(os.environ, DOCKER_HOST=f"tcp://127.0.0.1:{port}", DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=m + "/client")
        assert subprocess.run([DOCKER, "version", "--format", "{{.Server.APIVersion}}"], env=env, capture_output=True, text=True).stdout.strip() == "1.44"
        assert subprocess.run([BIN + "/berth", "ps"], env=env, capture_output=True, text=True).returncode == 0
    finally:
        d.stop()
    # refuses to overwrite a CA
    again = subprocess.run([BIN + "/berth", "machine", "certs", "--dir", m, "127.0.0.1"], capture_output=True, text=True)
    assert again.returncode != 0 and "already holds a CA" in again.stderr


def test_two_hosts_through_a_veth_pair(busybox, tmp_path):
    # berthd in this namespace, its clients in another "host" reached over a veth pair
    ns, a, b = "bt-remote-cli", "bt-rh0", "bt-rh1"
    sh = lambda *c: subprocess.run(list(c), check=True, capture_output=True)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", a], capture_output=True)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
        sh("ip", "link", "set", b, "netns", ns)
        sh("ip", "addr", "add", "10.253.77.1/30", "dev", a)
        sh("ip", "link", "set", a, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.253.77.2/30", "dev", b)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", b, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        m = str(tmp_path / "m")
        assert subprocess.run([BIN + "/berth", "machine", "certs", "--dir", m, "10.253.77.1"], capture_output=True).returncode == 0
        port = free_port()
        d = Daemon(args=["-H", f"tcp://10.253.77.1:{port}", "--tlsverify", "--tlscacert", m + "/server/ca.pem",
                         "--tlscert", m + "/server/cert.pem", "--tlskey", m + "/server/key.pem"]).start()
        try:
            d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
            env = dict(os.environ, DOCKER_HOST=f"tcp://10.253.77.1:{port}", DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=m + "/client")
            remote = ["ip", "netns", "exec", ns]
            r = subprocess.run(remote + [DOCKER, "run", "--rm", "busybox", "echo", "from the other host"], env=env, capture_output=True, text=True, timeout=60)
            assert r.stdout == "from the other host\n", r.stderr
            r = subprocess.run(remote + [BIN + "/berth", "run", "--rm", "-i", "busybox", "cat"], env=env, input="stdin across\n",
                               capture_output=True, text=True, timeout=60)
            assert r.stdout == "stdin across\n", r.stderr
            # without the client certificate the other host gets nothing
            r = subprocess.run(remote + ["curl", "-sS", "--max-time", "5", "--cacert", m + "/client/ca.pem", f"https://10.253.77.1:{port}/_ping"],
                               capture_output=True, text=True)
            assert r.returncode != 0 and r.stdout != "OK"
        finally:
            d.stop()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", a], capture_output=True)


def test_an_expired_client_certificate_is_refused(tls_daemon, tmp_path):
    d = tls_daemon
    pki = d.pki
    w = tmp_path
    (w / "ca.cnf").write_text("[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial.txt\n"
                              "default_md = sha256\npolicy = p\n[ p ]\ncommonName = supplied\n")
    (w / "index.txt").write_text("")
    (w / "serial.txt").write_text("01\n")
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", pki + "/ca.crt", "-keyfile", pki + "/ca.key",
                    "-in", pki + "/client.csr", "-out", "expired.crt", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                    "-extfile", pki + "/client.ext"], cwd=w, check=True, capture_output=True)
    url = "https://" + d.tcp[len("tcp://"):] + "/_ping"
    r = subprocess.run(["curl", "-sS", "--cacert", pki + "/ca.crt", "--cert", str(w / "expired.crt"), "--key", pki + "/client.key", url],
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stdout != "OK", r.stdout


def test_tls_flags_and_unverified_tls_as_the_docker_cli(tls_daemon, tmp_path):
    """`berth --tlsverify --tlscacert --tlscert --tlskey -H tcp://…` with no environment, and TLS
    without checking the server (a skip-tls-verify context, DOCKER_TLS without VERIFY): the
    client certificate is still presented, so mutual TLS holds; the same with the docker CLI."""
    d = tls_daemon
    certs = d.env["DOCKER_CERT_PATH"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = str(tmp_path / "cfg")
    berth = [BIN + "/berth"]
    r = subprocess.run(berth + ["--tlsverify", "--tlscacert", f"{certs}/ca.pem", "--tlscert", f"{certs}/cert.pem", "--tlskey",
                                f"{certs}/key.pem", "-H", d.tcp, "version", "--format", "{{.Server.Os}}"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "linux", r.stderr
    # a CA that did not sign the server: refused when verifying, accepted with verification off
    (tmp_path / "other").mkdir()
    other = make_pki(str(tmp_path / "other"))
    r = subprocess.run(berth + ["--tlsverify", "--tlscacert", other + "/ca.crt", "--tlscert", f"{certs}/cert.pem", "--tlskey",
                                f"{certs}/key.pem", "-H", d.tcp, "ps"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "certificate verify failed" in r.stderr, r.stderr
    r = subprocess.run(berth + ["--tls", "--tlscacert", other + "/ca.crt", "--tlscert", f"{certs}/cert.pem", "--tlskey",
                                f"{certs}/key.pem", "-H", d.tcp, "ps", "-q"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(berth + ["ps", "-q"], env=dict(env, DOCKER_HOST=d.tcp, DOCKER_TLS="1", DOCKER_CERT_PATH=certs),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    # skip-tls-verify context, made by the docker CLI, used by both
    r = subprocess.run([DOCKER, "context", "create", "insecure", "--docker",
                        f"host={d.tcp},cert={certs}/cert.pem,key={certs}/key.pem,skip-tls-verify=true"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for cli in (berth, [DOCKER]):
        r = subprocess.run(cli + ["--context", "insecure", "run", "--rm", "busybox", "echo", "unverified"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.stdout == "unverified\n", (cli, r.stderr)
    # without a client certificate the server still refuses
    r = subprocess.run(berth + ["--tls", "-H", d.tcp, "ps"], env=dict(env, HOME=str(tmp_path)), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def test_berth_over_tls_costs_no_more_than_the_socket(tls_daemon):
    """Each request's small writes went out as separate TLS records with Nagle on: the second
    waited for the first's delayed ACK (40 ms a request, `run --rm` 2.5x slower than on the
    unix socket). Medians of five, a generous margin for a loaded machine."""
    import statistics
    d = tls_daemon

    def median(env):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([BIN + "/berth", "run", "--rm", "busybox", "true"], env=env, check=True, capture_output=True, timeout=60)
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    local = median(dict(os.environ, DOCKER_HOST=d.host))
    remote = median(d.env)
    assert remote < local + 0.1, (local, remote)


def test_berth_over_tls_runs_no_openssl_cleanup_at_exit(tls_daemon):
    """The CLI's TLS relay threads may still be in SSL_read or SSL_free when main returns, and
    OpenSSL's atexit cleanup raced them: `berth run --rm` over TLS died now and then (1 in
    thousands; once in CI) with `double free or corruption` after its work was done. OpenSSL is
    now initialised without that handler: a breakpoint on it must never be reached."""
    if not shutil.which("gdb"):
        pytest.skip("gdb not installed")
    d = tls_daemon
    r = subprocess.run(["gdb", "-q", "-batch", "-nx", "-ex", "set breakpoint pending on", "-ex", "break OPENSSL_cleanup", "-ex", "run",
                        "-ex", "bt 3", "--args", BIN + "/berth", "version", "--format", "{{.Server.Version}}"],
                       env=d.env, capture_output=True, text=True, timeout=120)
    assert "exited normally" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert "hit Breakpoint" not in r.stdout, r.stdout[-2000:]


def test_berth_over_tls_exits_cleanly_under_parallel_runs(tls_daemon):
    """The same race, as a user met it: parallel `run --rm` over TLS, every one exits 0 and
    prints nothing on stderr."""
    from concurrent.futures import ThreadPoolExecutor
    d = tls_daemon

    def one(i):
        r = subprocess.run([BIN + "/berth", "run", "--rm", "busybox", "true"], env=d.env, capture_output=True, text=True, timeout=60)
        return (i, r.returncode, r.stderr)

    with ThreadPoolExecutor(6) as pool:
        bad = [r for r in pool.map(one, range(60)) if r[1] != 0 or r[2] != ""]
    assert bad == []


def test_compose_v2_over_mutual_tls(tls_daemon, tmp_path):
    """Compose v2 reaches a remote daemon through the same variables: a built service with a
    published port and a healthy dependency, logs followed over the hijacked TLS connection."""
    d = tls_daemon
    proj = tmp_path / "tlsproj"
    (proj / "web").mkdir(parents=True)
    (proj / "web" / "Dockerfile").write_text("FROM busybox\nRUN mkdir /www && echo remote-compose > /www/index.html\n")
    port = free_port()
    (proj / "compose.yaml").write_text(f"""
services:
  db:
    image: busybox
    command: ["sh", "-c", "touch /tmp/ready; exec sleep 300"]
    healthcheck: {{test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, retries: 10}}
  web:
    build: ./web
    image: tls-compose-web
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    depends_on: {{db: {{condition: service_healthy}}}}
    ports: ["{port}:80"]
""")

    def compose(*args):
        return subprocess.run([DOCKER, "compose", "-p", "tlsproj", *args], cwd=proj, env=d.env, capture_output=True, text=True, timeout=120)

    try:
        r = compose("up", "-d", "--wait")
        assert r.returncode == 0, r.stderr
        import urllib.request
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"remote-compose\n"
        ps = compose("ps", "--format", "{{.Name}} {{.State}}").stdout.split("\n")
        assert "tlsproj-db-1 running" in ps and "tlsproj-web-1 running" in ps
        assert compose("exec", "-T", "web", "cat", "/www/index.html").stdout == "remote-compose\n"
    finally:
        assert compose("down").returncode == 0
    assert d.berth("ps", "-aq", "--filter", "label=com.docker.compose.project=tlsproj").stdout.strip() == ""
