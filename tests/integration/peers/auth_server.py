#!/usr/bin/python3
"""A forward-auth / token-introspection server for the auth middleware tests (http.server,
threaded, HTTP/1.1 keep-alive).

    auth_server.py [--tls CERT KEY]

Prints `listening <port>` (127.0.0.1, kernel-chosen port). Every request is recorded; GET
/_requests returns them as JSON [{method, path, headers: [[k, v]...], body}] and clears the list.

Forward auth (any path but those below): the decision is made from the request's
`Authorization` header:
  "Bearer good"      200, headers X-Auth-User: alice, X-Auth-Role: admin, X-Auth-Extra: e,
                     Set-Cookie: auth_session=s1; Path=/ and Set-Cookie: other=o
  "Bearer body"      200 only when the request body is "secret-body" (forwardBody), else 401
  "Bearer redirect"  302 with Location: /login?next=1
  anything else      401, WWW-Authenticate: Bearer realm="test", body "denied by auth server"

Token introspection (RFC 7662), POST /introspect with form field token=...:
  token "active-token"   {"active": true, "sub": "alice", "scope": "read write", "exp": now+3600}
  anything else          {"active": false}
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
REQUESTS: list[dict] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        body = self._body()
        if self.path == "/_requests":
            with LOCK:
                out = json.dumps(REQUESTS).encode()
                REQUESTS.clear()
            return self._send(200, [("Content-Type", "application/json")], out)
        with LOCK:
            REQUESTS.append({"method": self.command, "path": self.path,
                             "headers": [[k, v] for k, v in self.headers.items()],
                             "body": body.decode("latin-1")})
        if self.path.startswith("/introspect"):
            form = urllib.parse.parse_qs(body.decode())
            token = (form.get("token") or [""])[0]
            if token == "active-token":
                doc = {"active": True, "sub": "alice", "scope": "read write",
                       "exp": int(time.time()) + 3600, "client_id": "c1"}
            else:
                doc = {"active": False}
            return self._send(200, [("Content-Type", "application/json")], json.dumps(doc).encode())
        auth = self.headers.get("Authorization", "")
        if auth == "Bearer good" or (auth == "Bearer body" and body == b"secret-body"):
            return self._send(200, [("X-Auth-User", "alice"), ("X-Auth-Role", "admin"),
                                    ("X-Auth-Extra", "e"),
                                    ("Set-Cookie", "auth_session=s1; Path=/"),
                                    ("Set-Cookie", "other=o")], b"")
        if auth == "Bearer redirect":
            return self._send(302, [("Location", "/login?next=1")], b"")
        return self._send(401, [("WWW-Authenticate", 'Bearer realm="test"'),
                                ("Content-Type", "text/plain")], b"denied by auth server")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"listening {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
