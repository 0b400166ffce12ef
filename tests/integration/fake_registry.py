"""A small registry (Docker Registry HTTP API v2 subset) for what a real one will not do on
demand: bearer-token auth with our own token server, corrupted blobs, connections cut mid-blob."""
import base64
import hashlib
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeRegistry:
    def __init__(self, token_auth=False, users=None):
        self.blobs, self.manifests, self.uploads = {}, {}, {}
        self.token_auth = token_auth
        self.users = users or {}
        self.tokens = set()
        self.corrupt = set()
        self.cut_once = set()
        self.endless = set()  # blobs followed by an endless stream of bytes (chunked)
        self.range_requests = []
        self.token_requests = []
        self.patches = []
        self.slow = set()  # blobs served at ~256 KiB/s
        self.full_gets = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def authorized(self, scope):
                if not registry.token_auth:
                    return True
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer ") and auth[7:] in registry.tokens:
                    return True
                host = self.headers["Host"]
                self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {
                    "WWW-Authenticate": f'Bearer realm="http://{host}/token",service="fake",scope="{scope}"'})
                return False

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self):
                self.route()

            def do_HEAD(self):
                self.route()

            def do_POST(self):
                self.route()

            def do_PUT(self):
                self.route()

            def do_PATCH(self):
                self.route()

            def route(self):
                path, _, query = self.path.partition("?")
                if path == "/token":
                    registry.token_requests.append(query)
                    auth = self.headers.get("Authorization", "")
                    if registry.users:
                        ok = auth.startswith("Basic ") and base64.b64decode(auth[6:]).decode() in [f"{u}:{p}" for u, p in registry.users.items()]
                        if not ok:
                            return self.send(401, b'{"details":"bad credentials"}')
                    tok = uuid.uuid4().hex
                    registry.tokens.add(tok)
                    return self.send(200, json.dumps({"token": tok}).encode(), {"Content-Type": "application/json"})
                if path == "/v2/":
                    if not self.authorized("registry:catalog:*"):
                        return
                    return self.send(200, b"{}", {"Content-Type": "application/json"})
                m = re.match(r"^/v2/(.+)/(manifests|blobs)/(.+)$", path)
                if not m:
                    return self.send(404, b"{}")
                name, kind, ref = m.groups()
                scope = f"repository:{name}:" + ("pull" if self.command in ("GET", "HEAD") else "pull,push")
                if not self.authorized(scope):
                    return
                if kind == "blobs" and ref.startswith("uploads/"):
                    if self.command == "POST":
                        uid = uuid.uuid4().hex
                        registry.uploads[uid] = b""
                        return self.send(202, b"", {"Location": f"/v2/{name}/blobs/uploads/{uid}", "Docker-Upload-UUID": uid})
                    uid = ref.split("/", 1)[1]
                    if self.command == "PATCH":
                        chunk = self.body()
                        start = int(self.headers.get("Content-Range", "0-0").split("-")[0])
                        if start != len(registry.uploads.get(uid, b"")):
                            return self.send(416, b'{"errors":[{"code":"BLOB_UPLOAD_INVALID"}]}')
                        registry.uploads[uid] = registry.uploads.get(uid, b"") + chunk
                        registry.patches.append((uid, start, len(chunk)))
                        return self.send(202, b"", {"Location": f"/v2/{name}/blobs/uploads/{uid}", "Range": f"0-{len(registry.uploads[uid]) - 1}"})
                    data = registry.uploads.pop(uid, b"") + self.body()
                    digest = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("digest", "").replace("%3A", ":")
                    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                        return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                    registry.blobs[digest] = data
                    return self.send(201, b"", {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest})
                if kind == "blobs":
                    data = registry.blobs.get(ref)
                    if data is None:
                        return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')
                    if ref in registry.corrupt:
                        data = data[:-1] + bytes([data[-1] ^ 0xFF])
                    rng = self.headers.get("Range")
                    if rng and self.command == "GET":
                        start = int(rng.split("=")[1].split("-")[0])
                        registry.range_requests.append((ref, start))
                        part = data[start:]
                        self.send_response(206)
                        self.send_header("Content-Length", str(len(part)))
                        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                        self.end_headers()
                        self.wfile.write(part)
                        return
                    if ref in registry.endless and self.command == "GET":
                        self.send_response(200)
                        self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        try:
                            chunk = data + b"\0" * 65536
                            for _ in range(4096):   # 256 MiB at most, far past the descriptor
                                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                                chunk = b"\0" * 65536
                        except OSError:
                            pass
                        self.close_connection = True
                        return
                    if ref in registry.cut_once and self.command == "GET":
                        registry.cut_once.discard(ref)
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if self.command == "GET":
                        registry.full_gets.append(ref)
                    if ref in registry.slow and self.command == "GET":
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        try:
                            for i in range(0, len(data), 16384):
                                self.wfile.write(data[i:i + 16384])
                                self.wfile.flush()
                                time.sleep(0.06)
                        except OSError:
                            pass
                        return
                    return self.send(200, data, {"Content-Type": "application/octet-stream", "Docker-Content-Digest": ref})
                # manifests
                if self.command == "PUT":
                    data = self.body()
                    digest = "sha256:" + hashlib.sha256(data).hexdigest()
                    ctype = self.headers.get("Content-Type")
                    registry.manifests[f"{name}:{ref}"] = (data, ctype)
                    registry.manifests[f"{name}:{digest}"] = (data, ctype)
                    return self.send(201, b"", {"Docker-Content-Digest": digest})
                found = registry.manifests.get(f"{name}:{ref}")
                if not found:
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
                data, ctype = found
                return self.send(200, data, {"Content-Type": ctype, "Docker-Content-Digest": "sha256:" + hashlib.sha256(data).hexdigest()})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
