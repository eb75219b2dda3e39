#!/usr/bin/python3
"""A stand-in for the Console API, for testing the `garrison` CLI without a Console.

usage: mock_console.py CERT.pem KEY.pem PORTFILE LOGFILE DEPLOY_GEN

Serves HTTPS on 127.0.0.1 (an ephemeral port, written to PORTFILE once listening) until killed.
Each request is appended to LOGFILE as one JSON line {method, path, auth, body}. Routes:
  POST /api/v1/authenticate       {"username":"admin","password":"pw"} -> {"token":"tok-123"}
  POST /api/v1/defenders/ecs-task.json    the task definition made by DEPLOY_GEN ecs
  POST /api/v1/defenders/daemonset.yaml   the manifest made by DEPLOY_GEN daemonset
  GET  /api/v1/defenders          130 Defenders, paged by limit/offset, with Total-Count;
                                  ?cluster=huge answers 17 MiB
Errors are answered like the Console: an HTTP status and {"err": "..."}. A cluster named
"explode" gets 400. Everything but authenticate needs "Authorization: Bearer tok-123".
"""
import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "tok-123"
LOCK = threading.Lock()


def defenders():
    out = []
    for i in range(130):
        out.append({
            "hostname": "node-%03d.example.com" % i,
            "cluster": "pc-ecs-cluster" if i % 2 else "k8s-prod",
            "connected": i % 3 != 0,
            "type": "ecs" if i % 2 else "daemonset",
            "version": "0.1.0",
            "category": "container",
        })
    # Untrusted text for the table: an escape sequence and a newline.
    out[5]["hostname"] = "evil\x1b[2Jhost\nname"
    return out


DEFENDERS = defenders()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep the test output clean
        pass

    def record(self, body):
        with LOCK, open(self.server.logfile, "a", encoding="utf-8") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "auth": self.headers.get("Authorization"), "body": body}) + "\n")

    def send(self, status, payload, ctype="application/json", headers=None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def authorized(self):
        if self.headers.get("Authorization") != "Bearer " + TOKEN:
            self.send(401, {"err": "missing or invalid token"})
            return False
        return True

    def gen(self, kind, body):
        args = [self.server.deploy_gen, kind, "--console-addr", body.get("consoleAddr", "")]
        if body.get("cluster"):
            args += ["--cluster", body["cluster"]]
        if body.get("taskName"):
            args += ["--task-name", body["taskName"]]
        if body.get("namespace"):
            args += ["--namespace", body["namespace"]]
        p = subprocess.run(args, capture_output=True, check=False)
        return p.returncode, p.stdout

    def do_POST(self):
        body = self.read_body()
        self.record(body if not isinstance(body, dict) or "password" not in body
                    else dict(body, password="<%d chars>" % len(body["password"])))
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/v1/authenticate":
            if body == {"username": "admin", "password": "pw"}:
                self.send(200, {"token": TOKEN})
            else:
                self.send(401, {"err": "invalid credentials"})
            return
        if not self.authorized():
            return
        if path in ("/api/v1/defenders/ecs-task.json", "/api/v1/defenders/daemonset.yaml"):
            if not isinstance(body, dict) or not body.get("consoleAddr"):
                self.send(400, {"err": "consoleAddr is required"})
                return
            if body.get("cluster") == "explode":
                self.send(400, {"err": "cluster explode is not allowed"})
                return
            ecs = path.endswith("ecs-task.json")
            rc, out = self.gen("ecs" if ecs else "daemonset", body)
            if rc != 0:
                self.send(400, {"err": "bad options"})
                return
            self.send(200, out, "application/json" if ecs else "application/x-yaml")
            return
        self.send(404, {"err": "no such route"})

    def do_GET(self):
        self.record(None)
        url = urllib.parse.urlsplit(self.path)
        if not self.authorized():
            return
        if url.path != "/api/v1/defenders":
            self.send(404, {"err": "no such route"})
            return
        q = urllib.parse.parse_qs(url.query)
        if q.get("cluster") == ["huge"]:
            self.send(200, b"[" + b" " * (17 * 1024 * 1024) + b"]")
            return
        rows = [d for d in DEFENDERS
                if ("cluster" not in q or d["cluster"] == q["cluster"][0])
                and ("connected" not in q or d["connected"] == (q["connected"][0] == "true"))]
        offset = int(q.get("offset", ["0"])[0])
        limit = int(q.get("limit", ["0"])[0]) or len(rows)
        self.send(200, rows[offset:offset + limit], headers={"Total-Count": str(len(rows))})


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    cert, key, portfile, logfile, deploy_gen = argv[1:]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.logfile = logfile
    srv.deploy_gen = deploy_gen
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(portfile + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
