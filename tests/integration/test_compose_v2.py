"""Docker Compose v2 (the real docker-compose v2 binary, as a docker CLI plugin) driving berthd:
a multi-service project checked by its effects."""
import json
import os
import shutil
import socket
import subprocess
import urllib.request

import pytest

from conftest import free_port

PLUGIN = "/usr/local/lib/docker/cli-plugins/docker-compose"

COMPOSE = """
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db-up; touch /tmp/ready; exec sleep 300"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      timeout: 2s
      retries: 10
    volumes: [data:/data]
  init:
    image: busybox
    command: ["sh", "-c", "echo init-done > /data/init"]
    volumes: [data:/data]
  web:
    build: {context: ./web}
    image: cv2-web:latest
    command: ["sh", "-c", "cat /data/init; echo GREETING=$$GREETING; httpd -f -p 80 -h /www"]
    environment:
      GREETING: ${GREETING:-none}
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully}
    ports: ["${WEB_PORT}:80"]
    volumes: [data:/data]
  worker:
    image: busybox
    command: ["sleep", "300"]
    deploy:
      replicas: 2
      resources:
        limits: {memory: 64M, cpus: "0.5"}
  debug:
    image: busybox
    profiles: ["debug"]
    command: ["sleep", "300"]
volumes:
  data: {}
"""



@pytest.fixture()
def project(daemon, tmp_path):
    if not os.access(PLUGIN, os.X_OK):
        pytest.fail("Compose v2 is not installed (scripts/setup installs it)")
    d = tmp_path / "cv2"
    (d / "web").mkdir(parents=True)
    (d / "compose.yaml").write_text(COMPOSE)
    (d / "web" / "Dockerfile").write_text("FROM busybox\nRUN mkdir /www && echo hello-from-web > /www/index.html\n")
    port = free_port()
    (d / ".env").write_text(f"GREETING=hi-env\nWEB_PORT={port}\n")
    env = dict(os.environ, DOCKER_HOST=daemon.host, DOCKER_BUILDKIT="0")

    def compose(*args, check=True, timeout=120):
        r = subprocess.run(["docker", "compose", "-p", "cv2", *args], cwd=d, env=env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert r.returncode == 0, f"compose {' '.join(args)}: {r.stdout} {r.stderr}"
        return r

    yield compose, port
    compose("--profile", "debug", "down", "-v", "--remove-orphans", check=False)
    daemon.docker("rmi", "cv2-web:latest")


def test_compose_v2_project_lifecycle(daemon, project):
    compose, port = project
    compose("up", "-d", "--wait")
    # build:, ports, depends_on conditions (the one-shot ran before web), .env interpolation
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"hello-from-web\n"
    logs = compose("logs", "--no-log-prefix", "web").stdout
    assert "init-done" in logs and "GREETING=hi-env" in logs
    states = {}
    for line in compose("ps", "-a", "--format", "json").stdout.splitlines():
        item = json.loads(line)
        states[item["Name"]] = (item["State"], item.get("Health", ""), item.get("ExitCode"))
    assert states["cv2-db-1"][:2] == ("running", "healthy")
    assert states["cv2-init-1"][0] == "exited" and states["cv2-init-1"][2] == 0
    # replicas and limits
    assert {"cv2-worker-1", "cv2-worker-2"} <= set(states)
    limits = daemon.docker("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "cv2-worker-1").stdout.split()
    assert limits == ["67108864", "500000000"]
    # exec and run
    assert compose("exec", "-T", "web", "cat", "/www/index.html").stdout == "hello-from-web\n"
    assert compose("run", "--rm", "-T", "worker", "echo", "from-run").stdout.strip().endswith("from-run")
    # profiles: off until asked for
    assert "cv2-debug-1" not in states
    compose("--profile", "debug", "up", "-d", "debug")
    assert daemon.docker("inspect", "-f", "{{.State.Running}}", "cv2-debug-1").stdout.strip() == "true"
    # scale
    compose("up", "-d", "--scale", "worker=3")
    workers = [n for n in compose("ps", "--format", "{{.Name}}").stdout.split() if "worker" in n]
    assert len(workers) == 3
    # up again: existing containers, the one-shot dependency re-run (attach before start)
    compose("up", "-d", "--wait")
    assert daemon.docker("inspect", "-f", "{{.State.ExitCode}}", "cv2-init-1").stdout.strip() == "0"
    # down -v removes containers, the network and the volume
    compose("--profile", "debug", "down", "-v")
    assert daemon.docker("ps", "-aq", "--filter", "label=com.docker.compose.project=cv2").stdout.strip() == ""
    assert "cv2_data" not in daemon.docker("volume", "ls", "-q").stdout.split()
    assert "cv2_default" not in daemon.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
