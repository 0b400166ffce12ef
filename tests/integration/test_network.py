"""Bridge networking through the docker CLI and berth: published ports checked with real HTTP
requests from the host, name and alias resolution on user networks, isolation, connect and
disconnect, network modes, and no leftovers on the host."""
import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import host_leftovers

HOST_IP = None


def host_ip():
    global HOST_IP
    if HOST_IP is None:
        out = subprocess.run(["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True, text=True).stdout
        HOST_IP = re.search(r"src (\S+)", out).group(1)
    return HOST_IP


CGI = ("mkdir -p /www/cgi-bin && echo $HOSTNAME > /www/index.html && "
       "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && "
       "chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www")


def get(url, timeout=3):
    for _ in range(30):
        try:
            return urllib.request.urlopen(url, timeout=timeout).read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("no answer from " + url)


@pytest.mark.parametrize("tool", ["berth", "docker"])
def test_publish_forms(daemon, tool):
    d = daemon
    name = f"pub-{tool}"
    base = 18100 if tool == "berth" else 18200
    r = d.run(tool, "run", "-d", "--name", name, "-p", f"{base}:80", "-p", f"127.0.0.1:{base + 1}:80", "-p", "80",
              "-p", f"{base + 2}-{base + 3}:80-81", "-p", f"{base + 4}:5353/udp", "busybox", "sh", "-c",
              CGI.replace("exec httpd", "httpd -p 81 -h /www; exec httpd"))
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert get(f"http://127.0.0.1:{base}/").strip() == cid[:12]
    assert get(f"http://{host_ip()}:{base}/").strip() == cid[:12]
    # The container sees the client's own address: no proxy in the data path.
    assert get(f"http://{host_ip()}:{base}/cgi-bin/ip").strip().strip("[]").replace("::ffff:", "") == host_ip()
    assert get(f"http://127.0.0.1:{base + 1}/").strip() == cid[:12]
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://{host_ip()}:{base + 1}/", timeout=1)
    assert get(f"http://127.0.0.1:{base + 2}/").strip() == cid[:12]
    assert get(f"http://127.0.0.1:{base + 3}/").strip() == cid[:12]
    ports = d.run(tool, "port", name).stdout.splitlines()
    random_port = [l for l in ports if l.startswith("80/tcp -> 0.0.0.0:") and not l.endswith(f":{base}") and not l.endswith(f":{base + 2}")]
    assert len(random_port) == 1, ports
    assert get("http://127.0.0.1:" + random_port[0].rsplit(":", 1)[1] + "/").strip() == cid[:12]
    assert f"5353/udp -> 0.0.0.0:{base + 4}" in ports and f"81/tcp -> 0.0.0.0:{base + 3}" in ports
    assert d.run(tool, "port", name, "81").stdout.strip() == f"0.0.0.0:{base + 3}"
    # busybox has no UDP server: listen inside the container's network namespace from the host.
    netns = [n.split()[0] for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
             if n.startswith("berth-" + cid[:12] + "-")]
    assert len(netns) == 1, netns
    server = subprocess.Popen(["ip", "netns", "exec", netns[0], "python3", "-c",
                               "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353)); "
                               "print('ready', flush=True); m, a = s.recvfrom(100); s.sendto(b'pong:' + m, a)"],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"ping", ("127.0.0.1", base + 4))
    assert s.recv(100) == b"pong:ping"
    server.wait(timeout=5)
    info = json.loads(d.run(tool, "inspect", name).stdout)[0]
    assert info["NetworkSettings"]["Ports"]["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": str(base)}
    assert info["NetworkSettings"]["IPAddress"].count(".") == 3 and info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert f"0.0.0.0:{base}->80/tcp" in d.run(tool, "ps", "--filter", f"name={name}").stdout
    # A taken host port is refused with Docker's words; nothing is left half-made.
    r = d.run(tool, "run", "-d", "-p", f"{base}:80", "busybox", "sleep", "5")
    assert r.returncode != 0 and f"Bind for 0.0.0.0:{base} failed: port is already allocated" in r.stderr
    d.run(tool, "rm", "-f", name, check=True)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{base}/", timeout=1)
    assert not [l for l in subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout.splitlines()
                if f"--dport {base}" in l]


def test_publish_all_uses_expose(daemon):
    d = daemon
    d.berth("run", "--name", "expose-base", "busybox", "true", check=True)
    d.berth("commit", "-c", "EXPOSE 80", "expose-base", "exposed-img", check=True)
    d.berth("rm", "expose-base", check=True)
    cid = d.docker("run", "-d", "-P", "--expose", "81", "exposed-img", "sh", "-c", CGI, check=True).stdout.strip()
    ports = d.docker("port", cid).stdout.splitlines()
    assert len(ports) == 2 and ports[0].startswith("80/tcp -> 0.0.0.0:") and ports[1].startswith("81/tcp -> 0.0.0.0:")
    assert get("http://127.0.0.1:" + ports[0].rsplit(":", 1)[1] + "/").strip() == cid[:12]
    d.docker("rm", "-f", cid, check=True)
    d.berth("rmi", "exposed-img", check=True)


def test_user_network_names_aliases_and_isolation(daemon):
    d = daemon
    d.docker("network", "create", "front", check=True)
    d.berth("network", "create", "--subnet", "10.231.0.0/24", "--gateway", "10.231.0.254", "back", check=True)
    d.docker("run", "-d", "--name", "web1", "--network", "front", "--network-alias", "web", "busybox", "sh", "-c", CGI, check=True)
    d.docker("run", "-d", "--name", "web2", "--network", "front", "--network-alias", "web", "busybox", "sh", "-c", CGI, check=True)
    d.berth("run", "-d", "--name", "db", "--network", "back", "--ip", "10.231.0.7", "busybox", "sh", "-c", CGI, check=True)
    out = d.docker("run", "--rm", "--network", "front", "busybox", "sh", "-c",
                   "nslookup web1 127.0.0.11; wget -qO- http://web2/; for i in 1 2 3 4 5 6; do wget -qO- http://web/; done").stdout
    assert "Name:" in out and "web1" in out
    ids = {d.berth("inspect", "-f", "{{.Id}}", n).stdout.strip()[:12] for n in ("web1", "web2")}
    served = set(re.findall(r"^[0-9a-f]{12}$", out, re.M))
    assert served == ids, out    # web2 by name, and the alias spread over both
    assert d.docker("exec", "web1", "cat", "/etc/resolv.conf").stdout.startswith("nameserver 127.0.0.11")
    # Other networks: not resolvable, not reachable.
    r = d.docker("run", "--rm", "--network", "back", "busybox", "sh", "-c", "nslookup web1 127.0.0.11")
    assert r.returncode != 0
    web1_ip = d.docker("inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}}", "web1").stdout.strip()
    r = d.docker("run", "--rm", "--network", "back", "busybox", "wget", "-T", "2", "-qO-", f"http://{web1_ip}/")
    assert r.returncode != 0
    assert d.docker("inspect", "-f", "{{.NetworkSettings.Networks.back.IPAddress}}", "db").stdout.strip() == "10.231.0.7"
    # The default bridge does not resolve container names (Docker's behaviour).
    d.berth("run", "-d", "--name", "plain1", "busybox", "sleep", "60", check=True)
    r = d.berth("run", "--rm", "busybox", "nslookup", "plain1")
    assert r.returncode != 0
    # connect / disconnect on a running container
    d.docker("network", "connect", "--alias", "database", "front", "db", check=True)
    assert d.docker("run", "--rm", "--network", "front", "busybox", "wget", "-qO-", "http://database/").stdout.strip() == \
        d.berth("inspect", "-f", "{{.Id}}", "db").stdout.strip()[:12]
    nets = json.loads(d.docker("inspect", "db").stdout)[0]["NetworkSettings"]["Networks"]
    assert set(nets) == {"front", "back"} and "database" in nets["front"]["Aliases"]
    assert "db" in json.loads(d.docker("network", "inspect", "front").stdout)[0]["Containers"][
        d.berth("inspect", "-f", "{{.Id}}", "db").stdout.strip()]["Name"]
    d.docker("network", "disconnect", "front", "db", check=True)
    r = d.docker("run", "--rm", "--network", "front", "busybox", "nslookup", "database", "127.0.0.11")
    assert r.returncode != 0
    r = d.docker("network", "rm", "back")
    assert r.returncode != 0 and "has active endpoints" in r.stderr
    d.docker("rm", "-f", "web1", "web2", "db", "plain1", check=True)
    d.docker("network", "rm", "front", "back", check=True)
    assert host_leftovers() == ([], [])


def test_a_running_container_sees_its_networks_change_in_its_hosts_and_resolv_conf(daemon):
    """`network connect` and `disconnect` on a running container rewrite its /etc/hosts and
    resolv.conf where they are, as dockerd does: the container's bind mounts see the new text (a
    file replaced by a rename would leave them on the old one). A line for each network's
    address; joining a user network from the default bridge brings the embedded DNS (dockerd
    20.10 checked by hand: the same lines and resolv.conf). At the disconnect Berth drops only
    that network's line and goes back to the host's resolvers, whose DNS server stops serving
    the container; dockerd drops every line with the hostname and keeps its resolver."""
    d = daemon
    d.docker("network", "create", "live-a", check=True)
    d.docker("run", "-d", "--name", "live-peer", "--network", "live-a", "busybox", "sleep", "60", check=True)
    d.docker("run", "-d", "--name", "live", "--hostname", "livehost", "busybox", "sleep", "60", check=True)
    try:
        def container_file(name):
            return d.docker("exec", "live", "cat", "/etc/" + name, check=True).stdout

        bridge_ip = d.docker("inspect", "-f", "{{.NetworkSettings.Networks.bridge.IPAddress}}", "live").stdout.strip()
        assert container_file("hosts").splitlines()[-1] == f"{bridge_ip}\tlivehost"
        assert "127.0.0.11" not in container_file("resolv.conf")
        assert d.docker("exec", "live", "nslookup", "live-peer").returncode != 0

        d.docker("network", "connect", "live-a", "live", check=True)
        a_ip = d.docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"live-a\").IPAddress}}", "live").stdout.strip()
        hosts = container_file("hosts")
        assert hosts.splitlines()[-2] == f"{bridge_ip}\tlivehost" and hosts.splitlines()[-1].startswith(f"{a_ip}\tlivehost"), hosts
        assert container_file("resolv.conf").startswith("nameserver 127.0.0.11"), container_file("resolv.conf")
        r = d.docker("exec", "live", "nslookup", "live-peer")
        assert r.returncode == 0 and "Address" in r.stdout, r.stdout + r.stderr

        d.docker("network", "disconnect", "live-a", "live", check=True)
        assert container_file("hosts").splitlines()[-1] == f"{bridge_ip}\tlivehost"
        assert "127.0.0.11" not in container_file("resolv.conf")
    finally:
        d.docker("rm", "-f", "live", "live-peer")
        d.docker("network", "rm", "live-a")


def test_network_commands_match_docker(fresh_daemon):
    d = fresh_daemon
    d.docker("network", "create", "--label", "env=test", "--internal", "n1", check=True)
    d.berth("network", "create", "-o", "com.docker.network.bridge.name=brtest0", "n2", check=True)
    for args in [("network", "ls"), ("network", "ls", "-q"), ("network", "ls", "--filter", "label=env=test"),
                 ("network", "ls", "-f", "type=custom", "--format", "{{.Name}} {{.Driver}} {{.Internal}} {{.Labels}}"),
                 ("network", "inspect", "-f", "{{.Name}} {{.Internal}} {{json .IPAM.Config}} {{.Options}}", "n1", "n2")]:
        a, b = d.docker(*args), d.berth(*args)
        assert a.returncode == 0 and b.stdout == a.stdout, (args, a.stdout, b.stdout, b.stderr)
    assert os.path.exists("/sys/class/net/brtest0")
    r = d.docker("network", "rm", "bridge")
    assert r.returncode != 0 and "bridge is a pre-defined network and cannot be removed" in r.stderr
    r = d.docker("network", "create", "n1")
    assert r.returncode != 0 and "network with name n1 already exists" in r.stderr
    r = d.docker("run", "--rm", "--network", "nope", "busybox", "true")
    assert r.returncode != 0 and "network nope not found" in r.stderr
    # Internal networks have no way out.
    r = d.docker("run", "--rm", "--network", "n1", "busybox", "ping", "-c", "1", "-W", "1", host_ip())
    assert r.returncode != 0
    assert "n1" in d.docker("network", "prune", "-f").stdout
    assert d.berth("network", "ls", "-q", "-f", "type=custom").stdout == ""
    assert not os.path.exists("/sys/class/net/brtest0")


def test_bridge_driver_options_are_applied_or_refused(fresh_daemon):
    """`-o com.docker.network.bridge.enable_icc=false` (and masquerade, mtu, host binding…) were
    stored and ignored: containers on an icc=false network reached each other. Now icc and
    masquerade are applied, and the options Berth does not implement are refused."""
    d = fresh_daemon
    d.docker("network", "create", "-o", "com.docker.network.bridge.enable_icc=false",
             "-o", "com.docker.network.bridge.enable_ip_masquerade=false", "--subnet", "10.231.7.0/24", "closed", check=True)
    d.docker("network", "create", "--subnet", "10.231.8.0/24", "open", check=True)
    for n in ("closed", "open"):
        d.docker("run", "-d", "--name", "srv-" + n, "--network", n, "busybox", "sleep", "60", check=True)
        ip = d.docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{n}").IPAddress}}}}', "srv-" + n).stdout.strip()
        r = d.docker("run", "--rm", "--network", n, "busybox", "ping", "-c", "1", "-W", "1", ip)
        assert (r.returncode == 0) == (n == "open"), (n, r.stdout, r.stderr)
        d.docker("rm", "-f", "srv-" + n, check=True)
    nat = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert "-s 10.231.8.0/24" in nat and "MASQUERADE" in nat and "-s 10.231.7.0/24" not in nat
    for opt, message in (("com.docker.network.driver.mtu=1400", "network option com.docker.network.driver.mtu=1400 is not supported by Berth"),
                         ("com.docker.network.driver.mtu=abc", 'failed to parse com.docker.network.driver.mtu value: abc'),
                         ("com.docker.network.bridge.host_binding_ipv4=127.0.0.1", "is not supported by Berth"),
                         ("com.docker.network.bridge.enable_icc=maybe", "strconv.ParseBool")):
        r = d.docker("network", "create", "-o", opt, "refused")
        assert r.returncode != 0 and message in r.stderr, (opt, r.stderr)
    d.docker("network", "create", "-o", "com.docker.network.driver.mtu=1500", "-o", "com.docker.network.bridge.enable_icc=true", "defaults", check=True)
    body = {"Name": "aux", "IPAM": {"Config": [{"Subnet": "10.231.9.0/24", "AuxiliaryAddresses": {"a": "10.231.10.1"}}]}}
    status, _, out = d.api("POST", "/v1.41/networks/create", body=json.dumps(body), headers={"Content-Type": "application/json"})
    assert status == 403 and json.loads(out)["message"] == "auxiliary address: (a:10.231.10.1) must belong to the master pool: 10.231.9.0/24", out
    d.docker("network", "rm", "closed", "open", "defaults", check=True)


def test_network_modes_and_dns_options(daemon):
    d = daemon
    out = d.docker("run", "--rm", "--network", "host", "busybox", "sh", "-c", "ip -o link | grep -c eth0; hostname").stdout.split()
    assert out[0] != "0" and out[1] == socket.gethostname()
    out = d.docker("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert "lo" in out and "eth0" not in out
    # As dockerd's (checked on 20.10 here): the loopback is up, so a program can serve itself on
    # 127.0.0.1; it was down, as a bare unshare leaves it.
    assert "<LOOPBACK,UP,LOWER_UP>" in out, out
    r = d.docker("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                 "nc -l -p 7000 -e echo served & sleep 0.2; nc 127.0.0.1 7000 </dev/null")
    assert (r.returncode, r.stdout) == (0, "served\n"), r.stderr
    # Joining a none container's namespace shares its loopback.
    d.docker("run", "-d", "--name", "alone", "--network", "none", "busybox", "sh", "-c", "nc -l -p 7001 -e echo shared", check=True)
    r = d.docker("run", "--rm", "--network", "container:alone", "busybox", "sh", "-c", "sleep 0.3; nc 127.0.0.1 7001 </dev/null")
    assert (r.returncode, r.stdout) == (0, "shared\n"), r.stderr
    d.docker("rm", "-f", "alone")
    d.berth("run", "-d", "--name", "nsowner", "busybox", "sleep", "60", check=True)
    owner_ip = d.berth("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "nsowner").stdout.strip()
    out = d.docker("run", "--rm", "--network", "container:nsowner", "busybox", "ip", "-o", "-4", "addr").stdout
    assert owner_ip in out
    out = d.docker("run", "--rm", "--dns", "10.9.9.9", "--dns-search", "example.org", "--add-host", "db.local:10.1.2.3",
                   "-h", "myhost", "busybox", "sh", "-c", "cat /etc/resolv.conf /etc/hosts; hostname").stdout
    assert "nameserver 10.9.9.9" in out and "search example.org" in out and "10.1.2.3\tdb.local" in out and out.endswith("myhost\n")
    d.berth("rm", "-f", "nsowner", check=True)


def test_outbound_and_forwarded_dns(daemon):
    d = daemon
    # Names the containers do not own go to the host's resolver (through 127.0.0.11 on user networks).
    d.berth("network", "create", "outnet", check=True)
    r = d.berth("run", "--rm", "--network", "outnet", "busybox", "nslookup", "deb.debian.org")
    assert r.returncode == 0 and "Address" in r.stdout, r.stdout + r.stderr
    # Out through NAT to what the host reaches (by address: static busybox's wget crashes in glibc's resolver).
    ip = socket.gethostbyname("deb.debian.org")
    r = d.berth("run", "--rm", "busybox", "sh", "-c",
                f"(printf 'HEAD /debian/ HTTP/1.0\\r\\nHost: deb.debian.org\\r\\n\\r\\n'; sleep 2) | nc {ip} 80 | head -1")
    assert r.stdout.startswith("HTTP/1."), r.stdout + r.stderr
    d.berth("network", "rm", "outnet", check=True)


def test_rules_survive_a_daemon_crash(fresh_daemon):
    d = fresh_daemon
    cid = d.berth("run", "-d", "--restart", "no", "-p", "18300:80", "busybox", "sh", "-c", CGI, check=True).stdout.strip()
    assert get("http://127.0.0.1:18300/").strip() == cid[:12]
    d.kill9()
    d.start()
    assert get("http://127.0.0.1:18300/").strip() == cid[:12]
    r = d.berth("run", "-d", "-p", "18300:80", "busybox", "true")
    assert r.returncode != 0 and "port is already allocated" in r.stderr
    d.berth("stop", "-t", "1", cid, check=True)
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:18300/", timeout=1)
    d.berth("rm", cid, check=True)
    assert host_leftovers() == ([], [])
    # A clean stop with nothing running takes the bridge and every rule of this daemon away.
    bridge = d.berth("network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.name"}}', "bridge").stdout.strip()
    d.berth("network", "create", "extra", check=True)
    extra = "br-" + d.berth("network", "inspect", "-f", "{{.Id}}", "extra").stdout.strip()[:12]
    assert os.path.exists(f"/sys/class/net/{bridge}") and os.path.exists(f"/sys/class/net/{extra}")
    d.stop()
    assert not os.path.exists(f"/sys/class/net/{bridge}") and not os.path.exists(f"/sys/class/net/{extra}")
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert bridge not in rules and extra not in rules and "BERTH-" + bridge[3:] not in rules


def test_the_loopback_relay_carries_bytes_intact_and_passes_half_closes(daemon):
    """The host's 127.0.0.1 reaches a published port through berthd's relay: every byte arrives
    in order both ways, a client's half-close reaches the server (which answers after it), and
    several connections at once stay apart."""
    import concurrent.futures
    import hashlib
    d = daemon
    port = 18350
    # Each connection: the server reads to the end of the client's stream, then answers its digest.
    cid = d.docker("run", "-d", "-p", f"{port}:80", "busybox", "nc", "-ll", "-p", "80", "-e", "md5sum", check=True).stdout.strip()
    try:
        def exchange(size):
            payload = os.urandom(size)
            for _ in range(50):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=20)
                    break
                except OSError:
                    time.sleep(0.1)
            with s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
            return answer.decode().split()[0], hashlib.md5(payload).hexdigest()
        got, want = exchange(16 << 20)
        assert got == want
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            for got, want in ex.map(exchange, [1, 1000, 70000, 1 << 20, 3 << 20, 65536, 65537, 5 << 20]):
                assert got == want
    finally:
        d.docker("rm", "-f", cid)


def test_a_container_cannot_reach_host_loopback_services(daemon):
    """Issue 12 (6): no route_localnet on Berth's bridges. A container that routes 127.0.0.0/8
    to its gateway (NET_ADMIN, its own namespace) reaches a host service on 0.0.0.0 but never one
    bound to 127.0.0.1 only; the host's own 127.0.0.1 still reaches published ports (TCP and UDP,
    through the loopback relay)."""
    d = daemon
    hits = []
    servers = []
    for addr in ("127.0.0.1", "0.0.0.0"):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 0))
        s.listen(8)
        s.settimeout(0.2)
        servers.append(s)
    import threading
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            for s in servers:
                try:
                    c, peer = s.accept()
                    hits.append((s.getsockname()[0], peer[0]))
                    c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-secret\n")
                    c.close()
                except OSError:
                    pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        d.berth("run", "-d", "--name", "lo-web", "-p", "18410:80", "-p", "18410:80/udp", "busybox", "sh", "-c", CGI, check=True)
        bridge = d.berth("network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.name"}}', "bridge").stdout.strip()
        assert open(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet").read().strip() == "0"
        assert get("http://127.0.0.1:18410/").strip()   # the relay answers on the host's loopback
        gw = d.berth("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge").stdout.strip()
        lo_port, any_port = servers[0].getsockname()[1], servers[1].getsockname()[1]
        script = (f"ip route del local 127.0.0.0/8 dev lo table local; ip route add 127.0.0.0/8 via {gw}; "
                  f"echo hi | nc -w 3 {gw} {any_port}; echo ---; echo hi | nc -w 3 127.0.0.1 {lo_port}; echo rc=$?")
        out = d.berth("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "sh", "-c", script, timeout=60).stdout
        before, _, after = out.partition("---")
        assert "host-secret" in before, out          # the route works: 0.0.0.0 services answer
        assert "host-secret" not in after and "rc=0" not in after, out
        assert not [h for h in hits if h[0] == "127.0.0.1"], hits
        d.berth("rm", "-f", "lo-web", check=True)
    finally:
        stop.set()
        t.join()
        for s in servers:
            s.close()


def test_forwarding_turned_on_by_berth_comes_with_a_drop_policy(busybox):
    """Issue 12 (6): when Berth is the one that enables IPv4 forwarding, the FORWARD policy
    becomes DROP (as dockerd), so the host does not start routing between its other interfaces;
    Berth's own chains still pass its containers' traffic."""
    from conftest import Daemon
    before_forward = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    before_policy = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout.split("\n")[0]
    d = Daemon()
    try:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("0")
        subprocess.run(["iptables", "-P", "FORWARD", "ACCEPT"], check=True)
        d.start()
        d.berth("import", "-c", 'CMD ["sh"]', busybox, "busybox:latest", check=True)
        d.berth("network", "create", "fwd-net", check=True)
        d.berth("run", "-d", "--name", "fwd", "--network", "fwd-net", "busybox", "sh", "-c", CGI, check=True)
        assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"
        assert subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout.split("\n")[0] == "-P FORWARD DROP"
        # containers on one network still reach each other through the bridge
        ip = d.berth("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "fwd").stdout.strip()
        assert d.berth("run", "--rm", "--network", "fwd-net", "busybox", "wget", "-qO-", f"http://{ip}/").returncode == 0
        d.berth("rm", "-f", "fwd", check=True)
    finally:
        d.stop()
        subprocess.run(["iptables", "-P", "FORWARD", before_policy.split()[-1]])
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(before_forward)
