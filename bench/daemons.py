"""Starts a release berthd and (when installed) Debian's dockerd side by side on temporary roots,
each with busybox:latest, for the benchmark scripts."""
import os, shutil, subprocess, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


def rss_mib(pid, field="VmRSS"):
    """A process's resident memory (or another /proc status field in kB), in MiB."""
    return int(open(f"/proc/{pid}/status").read().split(field + ":")[1].split()[0]) / 1024


def sh(*a, **kw):
    return subprocess.run(a, check=True, capture_output=True, **kw)


class Pair:
    def __init__(self, docker_bridge=False):
        sh("swift", "build", "-c", "release", cwd=REPO)
        self.bindir = sh("swift", "build", "-c", "release", "--show-bin-path", cwd=REPO, text=True).stdout.strip()
        self.work = tempfile.mkdtemp(prefix="bench-", dir="/tmp")
        tar = self.work + "/busybox.tar"
        sh("python3", REPO + "/scripts/busybox-rootfs.py", tar)
        self.procs = []
        sock = self.work + "/berth.sock"
        self.procs.append(subprocess.Popen([self.bindir + "/berthd", "-H", "unix://" + sock, "--data-root", self.work + "/berth",
                                            "--exec-root", self.work + "/berth-run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.berth_env = dict(os.environ, DOCKER_HOST="unix://" + sock)
        self._wait(self.berth_env)
        sh(self.bindir + "/berth", "import", "-c", 'CMD ["sh"]', tar, "busybox:latest", env=self.berth_env)
        self.docker_env = None
        if shutil.which("dockerd"):
            dsock = self.work + "/docker.sock"
            self.procs.append(subprocess.Popen(["dockerd", "-H", "unix://" + dsock, "--data-root", self.work + "/docker",
                                                "--exec-root", self.work + "/docker-run", "--pidfile", self.work + "/docker.pid",
                                                *([] if docker_bridge else ["--bridge", "none", "--iptables=false"])],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.docker_env = dict(os.environ, DOCKER_HOST="unix://" + dsock)
            self._wait(self.docker_env)
            subprocess.run(f"{DOCKER} import -c 'CMD [\"sh\"]' {tar} busybox:latest", shell=True, env=self.docker_env, check=True, capture_output=True)
        else:
            print("dockerd not installed (apt-get install docker.io): Docker column skipped")

    def _wait(self, env):
        for _ in range(300):
            if subprocess.run([DOCKER, "version"], env=env, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("daemon did not start")

    def targets(self):
        """(label, docker-CLI environment) for each daemon."""
        out = [("berth", self.berth_env)]
        if self.docker_env:
            out.append(("docker", self.docker_env))
        return out

    def close(self):
        for p in self.procs:
            p.terminate(); p.wait()
        subprocess.run(["sh", "-c", f"grep ' {self.work}' /proc/mounts | cut -d' ' -f2 | xargs -r umount -l"])
        shutil.rmtree(self.work, ignore_errors=True)
