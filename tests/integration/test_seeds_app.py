"""The seeds' example: a Python web app built from a Debian-based Python image made offline here
(scripts/python-image: debootstrap), `pip install` from PyPI inside a RUN step (network through
the default bridge), run with `-p 4000:80` and answering on localhost:4000."""
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import REPO

APP = '''from flask import Flask
from redis import Redis, RedisError
import os
import socket

redis = Redis(host="redis", db=0, socket_connect_timeout=2, socket_timeout=2)
app = Flask(__name__)


@app.route("/")
def hello():
    try:
        visits = redis.incr("counter")
    except RedisError:
        visits = "<i>cannot connect to Redis, counter disabled</i>"
    html = "<h3>Hello {name}!</h3>" \\
           "<b>Hostname:</b> {hostname}<br/>" \\
           "<b>Visits:</b> {visits}"
    return html.format(name=os.getenv("NAME", "world"), hostname=socket.gethostname(), visits=visits)


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=80)
'''

DOCKERFILE = '''FROM python-local
WORKDIR /app
ADD . .
RUN pip install -r requirements.txt
EXPOSE 80
ENV NAME World
CMD ["python", "app.py"]
'''


@pytest.fixture(scope="module")
def python_image(daemon):
    r = subprocess.run([os.path.join(REPO, "scripts", "python-image")], capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        pytest.skip("could not make the Debian Python image: " + r.stderr[-500:])
    tar = r.stdout.strip().splitlines()[-1]
    daemon.berth("import", "-c", "ENV PIP_BREAK_SYSTEM_PACKAGES=1", "-c", 'CMD ["python3"]', tar, "python-local", check=True)
    yield "python-local"
    daemon.berth("rmi", "-f", "python-local")


def test_seeds_python_app(daemon, python_image, tmp_path):
    d = daemon
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "requirements.txt").write_text("Flask\nRedis\n")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    env = dict(os.environ, DOCKER_HOST=d.host, DOCKER_BUILDKIT="0")
    r = subprocess.run(["docker", "build", "-t", "friendlyhello", str(tmp_path)], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert "Successfully installed" in r.stdout and "Successfully tagged friendlyhello:latest" in r.stdout
    cfg = d.berth("inspect", "-f", "{{json .Config.Cmd}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}}", "friendlyhello").stdout.strip()
    assert cfg == '["python","app.py"] /app {"80/tcp":{}}'
    d.docker("run", "-d", "--name", "seeds-web", "-p", "4000:80", "friendlyhello", check=True)
    body = ""
    for _ in range(100):
        try:
            body = urllib.request.urlopen("http://localhost:4000/", timeout=3).read().decode()
            break
        except OSError:
            time.sleep(0.2)
    d.berth("rm", "-f", "seeds-web")
    assert "<h3>Hello World!</h3>" in body and "<b>Hostname:</b>" in body and "cannot connect to Redis" in body, body
    # Nothing changed: the rebuild takes every step from the cache.
    r = subprocess.run(["docker", "build", "-t", "friendlyhello", str(tmp_path)], env=env, capture_output=True, text=True)
    assert r.stdout.count("Using cache") == 6, r.stdout
