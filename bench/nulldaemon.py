#!/usr/bin/env python3
"""An Engine API daemon that does no work: canned answers, at once, to what the docker CLI asks
for `run --rm`, `run -d`, `exec` and `rm -f`. Timing a CLI against it gives that CLI's own cost
(start-up, its requests, its exit), the floor under any daemon's end-to-end time through it.
The answers are the shapes dockerd sends (status codes, headers, hijack, chunked wait); a wait
answers once its container was started, as a container that exits at once would.
Usage: bench/nulldaemon.py SOCKET   (serves until killed)"""
import json, os, re, socket, sys, threading

API = "1.51"
containers = {}          # id -> threading.Event set by start
lock = threading.Lock()
counter = [0]


def head(status, extra=""):
    return (f"HTTP/1.1 {status}\r\nApi-Version: {API}\r\nDocker-Experimental: false\r\nOstype: linux\r\n"
            f"Server: Docker/28.2.2 (linux)\r\n{extra}").encode()


def send_json(conn, status, obj):
    body = json.dumps(obj).encode()
    conn.sendall(head(status, f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n") + body)


def started(cid):
    with lock:
        return containers.setdefault(cid, threading.Event())


def serve(conn):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            length = 0
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
            if length:
                f.read(length)
            path = re.sub(r"^/v[0-9.]+", "", target.split("?")[0])
            parts = path.strip("/").split("/")
            if path == "/_ping":
                conn.sendall(head("200 OK", "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\nBuilder-Version: 2\r\n"
                                  "Swarm: inactive\r\n\r\n") + (b"" if method == "HEAD" else b"OK"))
            elif path == "/containers/create":
                with lock:
                    counter[0] += 1
                    cid = f"{counter[0]:064x}"
                started(cid)
                send_json(conn, "201 Created", {"Id": cid, "Warnings": []})
            elif parts[0] == "containers" and len(parts) == 3 and parts[2] == "attach":
                conn.sendall(head("101 UPGRADED", "Content-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"))
                started(parts[1]).wait(10)
                return
            elif parts[0] == "containers" and len(parts) == 3 and parts[2] == "wait":
                conn.sendall(head("200 OK", "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"))
                started(parts[1]).wait(10)
                body = b'{"Error":null,"StatusCode":0}\n'
                conn.sendall(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            elif parts[0] == "containers" and len(parts) == 3 and parts[2] == "start":
                started(parts[1]).set()
                conn.sendall(head("204 No Content", "\r\n"))
            elif parts[0] == "containers" and len(parts) == 3 and parts[2] == "exec":
                send_json(conn, "201 Created", {"Id": "e" * 64})
            elif parts[0] == "exec" and len(parts) == 3 and parts[2] == "start":
                conn.sendall(head("101 UPGRADED", "Content-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"))
                return
            elif parts[0] == "exec" and len(parts) == 3 and parts[2] == "json":
                send_json(conn, "200 OK", {"ID": parts[1], "Running": False, "ExitCode": 0, "Pid": 0})
            elif parts[0] == "containers" and len(parts) == 3 and parts[2] == "json":
                send_json(conn, "200 OK", {"Id": parts[1], "Name": "/" + parts[1], "State": {"Status": "running", "Running": True, "Pid": 1},
                                           "Config": {"Tty": False, "OpenStdin": False}, "HostConfig": {}})
            elif method == "DELETE" and parts[0] == "containers":
                conn.sendall(head("204 No Content", "\r\n"))
            else:
                send_json(conn, "404 Not Found", {"message": f"the null daemon does not answer {method} {path}"})
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        conn.close()


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(128)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
