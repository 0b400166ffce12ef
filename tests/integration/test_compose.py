"""The seeds' compose file and a two-service app under Debian's docker-compose 1.29.2 against
berthd: up -d, ps, logs, scale, exec, stop/start, down -v — and nothing left behind."""
import os
import shutil
import subprocess
import re
import time
import urllib.request

import pytest

from conftest import host_leftovers

COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(COMPOSE is None, reason="docker-compose not installed (scripts/setup installs it)")

SEEDS = """version: "3"
services:
  web:
    image: busybox
    command: sh -c "echo hello-from-$$HOSTNAME > /www.html; exec httpd -f -p 80 -h /"
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "4000:80"
    networks:
      - webnet
networks:
  webnet:
"""

TWO = """version: "3"
services:
  app:
    image: busybox
    command: sh -c "echo served-by-$$HOSTNAME > /index.html; exec httpd -f -p 80 -h /"
    volumes:
      - data:/data
  client:
    image: busybox
    command: sh -c "while true; do wget -qO- http://app/ && sleep 1; done"
    depends_on:
      - app
volumes:
  data:
"""


def compose(d, project_dir, *args, check=True):
    env = dict(os.environ, DOCKER_HOST=d.host)
    r = subprocess.run([COMPOSE, *args], cwd=project_dir, env=env, capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"docker-compose {' '.join(args)}: {r.stdout} {r.stderr}")
    return r


def get(url):
    for _ in range(50):
        try:
            return urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("no answer from " + url)


def test_seeds_compose_file(daemon, tmp_path):
    d = daemon
    (tmp_path / "docker-compose.yml").write_text(SEEDS)
    compose(d, tmp_path, "-p", "seeds", "up", "-d")
    # Five replicas behind host port 4000 (Docker would refuse all but one): connections spread.
    seen = {get("http://127.0.0.1:4000/www.html") for _ in range(10)}
    assert len(seen) == 5 and all(s.startswith("hello-from-") for s in seen), seen
    ps = compose(d, tmp_path, "-p", "seeds", "ps").stdout
    assert "seeds_web_5" in ps and ps.count("Up") == 5 and "0.0.0.0:4000->80/tcp" in ps
    nets = d.berth("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "seeds_webnet" in nets
    compose(d, tmp_path, "-p", "seeds", "stop")
    assert "Exit" in compose(d, tmp_path, "-p", "seeds", "ps").stdout
    compose(d, tmp_path, "-p", "seeds", "start")
    assert get("http://127.0.0.1:4000/www.html").startswith("hello-from-")
    assert "seeds_web_1" in compose(d, tmp_path, "-p", "seeds", "logs", "web").stdout
    compose(d, tmp_path, "-p", "seeds", "down", "-v")
    assert "seeds_webnet" not in d.berth("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert d.berth("ps", "-aq", "--filter", "label=com.docker.compose.project=seeds").stdout == ""


def test_two_services_by_name(daemon, tmp_path):
    d = daemon
    (tmp_path / "docker-compose.yml").write_text(TWO)
    compose(d, tmp_path, "-p", "pair", "up", "-d")
    out = ""
    for _ in range(50):
        out = compose(d, tmp_path, "-p", "pair", "logs", "client").stdout
        if "served-by-" in out:
            break
        time.sleep(0.2)
    assert "served-by-" in out, out
    # exec reaches the other service by its name
    r = compose(d, tmp_path, "-p", "pair", "exec", "-T", "client", "wget", "-qO-", "http://app/")
    assert r.stdout.startswith("served-by-")
    # scale: three app containers behind the one service name
    compose(d, tmp_path, "-p", "pair", "up", "-d", "--scale", "app=3")
    ps = compose(d, tmp_path, "-p", "pair", "ps").stdout
    assert "pair_app_3" in ps
    # The service name answers with every replica, the first one turning (glibc clients may
    # still prefer one by address sorting; the DNS side is what we own).
    ips = {d.berth("inspect", "-f", "{{.NetworkSettings.Networks.pair_default.IPAddress}}", f"pair_app_{i}").stdout.strip() for i in (1, 2, 3)}
    firsts = set()
    for _ in range(3):
        out = compose(d, tmp_path, "-p", "pair", "exec", "-T", "client", "nslookup", "app").stdout
        answers = re.findall(r"Address: (\S+)", out)
        assert set(answers) == ips, out
        firsts.add(answers[0])
    assert len(firsts) > 1
    served = {compose(d, tmp_path, "-p", "pair", "exec", "-T", "client", "wget", "-qO-", f"http://{ip}/").stdout.strip() for ip in ips}
    assert len(served) == 3, served
    assert "pair_data" in d.berth("volume", "ls", "-q").stdout.split()
    compose(d, tmp_path, "-p", "pair", "down", "-v")
    assert "pair_data" not in d.berth("volume", "ls", "-q").stdout.split()
    assert "pair_default" not in d.berth("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert d.berth("ps", "-aq", "--filter", "label=com.docker.compose.project=pair").stdout == ""
    assert host_leftovers() == ([], []), "veth or namespace left behind"
