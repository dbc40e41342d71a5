#!/usr/bin/python3
"""A fake Kubernetes API server that speaks the real wire format, for the Kubernetes provider
tests (no real API server can run here: see shared/testrig.md section 6).

What it serves, as kube-apiserver does:
  - discovery: /version, /api, /api/v1, /apis, /apis/<group>/<version> (enough for kubectl);
  - for every registered resource, cluster-wide and per namespace:
      GET    .../<resource>                list (labelSelector k=v,k!=v,k; limit + continue),
                                           metadata.resourceVersion = the store's revision
      GET    .../<resource>?watch=true     a chunked stream of JSON lines {"type", "object"}:
                                           ADDED / MODIFIED / DELETED from resourceVersion on,
                                           BOOKMARK events when allowWatchBookmarks=true,
                                           an ERROR event with a 410 Status when the
                                           resourceVersion is older than the compacted
                                           history (the client must re-list);
                                           timeoutSeconds ends the stream
      GET    .../namespaces/<ns>/<resource>/<name>
      POST   .../namespaces/<ns>/<resource>           create (409 if it exists)
      PUT    .../namespaces/<ns>/<resource>/<name>    replace (404 if absent)
      PUT    .../namespaces/<ns>/<resource>/<name>/status   replace .status only
      DELETE .../namespaces/<ns>/<resource>/<name>
  - errors as metav1.Status objects.

Tests use it in-process (FakeKube(...).start(); .apply(obj); .delete(...); .compact()), and
`kubectl --server http://127.0.0.1:<port>` can talk to it (get, create --validate=false, delete).
Run standalone: fake_kube_apiserver.py [--port N] [objects.yaml|json ...].
"""

from __future__ import annotations

import argparse
import copy
import http.server
import json
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid

# (group, version, plural, kind, namespaced)
RESOURCES = [
    ("", "v1", "namespaces", "Namespace", False),
    ("", "v1", "services", "Service", True),
    ("", "v1", "endpoints", "Endpoints", True),
    ("", "v1", "secrets", "Secret", True),
    ("", "v1", "configmaps", "ConfigMap", True),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    ("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    ("traefik.io", "v1alpha1", "ingressroutes", "IngressRoute", True),
    ("traefik.io", "v1alpha1", "ingressroutetcps", "IngressRouteTCP", True),
    ("traefik.io", "v1alpha1", "ingressrouteudps", "IngressRouteUDP", True),
    ("traefik.io", "v1alpha1", "middlewares", "Middleware", True),
    ("traefik.io", "v1alpha1", "middlewaretcps", "MiddlewareTCP", True),
    ("traefik.io", "v1alpha1", "traefikservices", "TraefikService", True),
    ("traefik.io", "v1alpha1", "tlsoptions", "TLSOption", True),
    ("traefik.io", "v1alpha1", "tlsstores", "TLSStore", True),
    ("traefik.io", "v1alpha1", "serverstransports", "ServersTransport", True),
    ("traefik.io", "v1alpha1", "serverstransporttcps", "ServersTransportTCP", True),
    ("gateway.networking.k8s.io", "v1", "gatewayclasses", "GatewayClass", False),
    ("gateway.networking.k8s.io", "v1", "gateways", "Gateway", True),
    ("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", True),
    ("gateway.networking.k8s.io", "v1", "grpcroutes", "GRPCRoute", True),
    ("gateway.networking.k8s.io", "v1beta1", "referencegrants", "ReferenceGrant", True),
    ("gateway.networking.k8s.io", "v1", "backendtlspolicies", "BackendTLSPolicy", True),
]


def api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


class Store:
    """Objects by resource, one global revision counter, and the event history watches replay."""

    def __init__(self):
        self.cond = threading.Condition()
        self.rev = 1
        self.objects: dict[str, dict[tuple[str, str], dict]] = {r[2]: {} for r in RESOURCES}
        self.events: list[tuple[int, str, str, dict]] = []  # (rev, resource, type, object)
        self.compacted = 0  # watches from a revision below this get 410 Gone
        self.epoch = 0      # bumped by compact(): open watches end with 410 Gone

    def kind_of(self, plural):
        for g, v, p, k, ns in RESOURCES:
            if p == plural:
                return g, v, k, ns
        raise KeyError(plural)

    def put(self, plural: str, obj: dict, create_only=False, update_only=False):
        g, v, kind, namespaced = self.kind_of(plural)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        ns = md.get("namespace", "default") if namespaced else ""
        if namespaced:
            md["namespace"] = ns
        key = (ns, md["name"])
        with self.cond:
            existing = self.objects[plural].get(key)
            if existing and create_only:
                return 409, None
            if not existing and update_only:
                return 404, None
            self.rev += 1
            obj["apiVersion"] = api_version(g, v)
            obj["kind"] = kind
            md["resourceVersion"] = str(self.rev)
            md["uid"] = existing["metadata"]["uid"] if existing else str(uuid.uuid4())
            md.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self.objects[plural][key] = obj
            self.events.append((self.rev, plural, "MODIFIED" if existing else "ADDED", obj))
            self.cond.notify_all()
            return (200 if existing else 201), obj

    def delete(self, plural: str, ns: str, name: str):
        with self.cond:
            obj = self.objects[plural].pop((ns, name), None)
            if obj is None:
                return None
            self.rev += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rev)
            self.events.append((self.rev, plural, "DELETED", obj))
            self.cond.notify_all()
            return obj

    def compact(self):
        """Forgets the event history: watches resuming from an older revision get 410 Gone."""
        with self.cond:
            self.compacted = self.rev
            self.epoch += 1
            self.events.clear()
            self.cond.notify_all()


def match_labels(obj: dict, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver"

    def log_message(self, *a):
        pass

    @property
    def store(self) -> Store:
        return self.server.store

    def send_json(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            import yaml  # kubectl sends JSON; YAML only from hand-written requests
            return yaml.safe_load(raw)

    # ---- routing ------------------------------------------------------------------------------

    def parse(self):
        """-> (group, version, namespace, plural, name) or None for discovery paths."""
        u = urllib.parse.urlsplit(self.path)
        parts = [p for p in u.path.split("/") if p]
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if not rest:
            return None
        plural, name = rest[0], rest[1] if len(rest) > 1 else ""
        self.subresource = rest[2] if len(rest) > 2 else ""
        return group, version, ns, plural, name

    def discovery(self) -> bool:
        path = urllib.parse.urlsplit(self.path).path.rstrip("/")
        port = self.server.server_address[1]
        if path == "/version":
            self.send_json(200, {"major": "1", "minor": "20", "gitVersion": "v1.20.2-fake",
                                 "platform": "linux/amd64"})
        elif path == "/api":
            self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                 "serverAddressByClientCIDRs": [
                                     {"clientCIDR": "0.0.0.0/0",
                                      "serverAddress": f"127.0.0.1:{port}"}]})
        elif path == "/apis":
            groups = {}  # group -> its versions, the preferred (first listed) first
            for g, v, *_ in RESOURCES:
                if g and v not in groups.setdefault(g, []):
                    groups[g].append(v)
            self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
                for g, vs in groups.items()]})
        elif path == "/api/v1" or (path.startswith("/apis/") and path.count("/") == 3):
            gv = "v1" if path == "/api/v1" else path[len("/apis/"):]
            res = [{"name": p, "singularName": k.lower(), "namespaced": ns, "kind": k,
                    "verbs": ["create", "delete", "get", "list", "update", "watch"]}
                   for g, v, p, k, ns in RESOURCES if api_version(g, v) == gv]
            if not res:
                self.send_json(404, status(404, "NotFound", "the server could not find the "
                                                             "requested resource"))
            else:
                self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                     "groupVersion": gv, "resources": res})
        elif path in ("/healthz", "/readyz", "/livez"):
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(data)
        else:
            return False
        return True

    def resolve(self):
        p = self.parse()
        if p is None:
            return None
        group, version, ns, plural, name = p
        for g, v, pl, kind, namespaced in RESOURCES:
            if (g, v, pl) == (group, version, plural) and pl not in self.server.without:
                return group, version, ns, plural, name, kind, namespaced
        self.send_json(404, status(404, "NotFound", f"the server could not find the requested "
                                                    f"resource ({plural})"))
        return False

    def resolve_or_404(self):
        r = self.resolve()
        if r is None:
            self.send_json(404, status(404, "NotFound", "not found"))
        return r

    # ---- verbs --------------------------------------------------------------------------------

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.discovery():
            return
        r = self.resolve_or_404()
        if not r:
            return
        group, version, ns, plural, name, kind, _ = r
        st = self.store
        if name:
            with st.cond:
                obj = st.objects[plural].get((ns, name))
            if obj is None:
                self.send_json(404, status(404, "NotFound", f'{plural} "{name}" not found'))
            else:
                self.send_json(200, obj)
            return
        selector = self.query.get("labelSelector", "")
        if self.query.get("watch") in ("true", "1"):
            self.watch(plural, ns, selector, group, version, kind)
            return
        with st.cond:
            items = [copy.deepcopy(o) for (ons, _), o in sorted(st.objects[plural].items())
                     if (not ns or ons == ns) and match_labels(o, selector)]
            rev = st.rev
        start = int(self.query.get("continue") or 0)
        limit = int(self.query.get("limit") or 0)
        page = items[start:start + limit] if limit else items[start:]
        md = {"resourceVersion": str(rev)}
        if limit and start + limit < len(items):
            md["continue"] = str(start + limit)
        self.send_json(200, {"kind": kind + "List", "apiVersion": api_version(group, version),
                             "metadata": md, "items": page})

    def watch(self, plural, ns, selector, group, version, kind):
        st = self.store
        try:
            since = int(self.query.get("resourceVersion") or 0)
        except ValueError:
            since = 0
        bookmarks = self.query.get("allowWatchBookmarks") in ("true", "1")
        timeout = float(self.query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(obj) -> bool:
            data = (json.dumps(obj) + "\n").encode()
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                return True
            except OSError:
                return False

        with st.cond:
            epoch = st.epoch
            if since and since < st.compacted:
                chunk({"type": "ERROR", "object": status(
                    410, "Expired", f"too old resource version: {since} ({st.compacted})")})
                self.end_chunks()
                return
            if not since:  # "0"/absent: the current state as ADDED events first
                since = st.rev
                initial = [o for (ons, _), o in sorted(st.objects[plural].items())
                           if (not ns or ons == ns) and match_labels(o, selector)]
            else:
                initial = []
        for o in initial:
            if not chunk({"type": "ADDED", "object": o}):
                return
        sent = since
        last_bookmark = time.monotonic()
        while time.monotonic() < deadline and not self.server.stopping:
            with st.cond:
                if st.epoch != epoch:
                    pending = "gone"
                else:
                    pending = [e for e in st.events if e[0] > sent and e[1] == plural]
                    if not pending:
                        st.cond.wait(0.2)
                        pending = [e for e in st.events if e[0] > sent and e[1] == plural]
                rev = st.rev
            if pending == "gone":
                chunk({"type": "ERROR", "object": status(410, "Expired",
                                                         "too old resource version")})
                break
            for erev, _, etype, obj in pending:
                sent = erev
                if ns and obj["metadata"].get("namespace") != ns:
                    continue
                if not match_labels(obj, selector):
                    continue
                if not chunk({"type": etype, "object": obj}):
                    return
            if bookmarks and time.monotonic() - last_bookmark > self.server.bookmark_interval:
                last_bookmark = time.monotonic()
                sent = max(sent, rev)
                if not chunk({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api_version(group, version),
                        "metadata": {"resourceVersion": str(sent)}}}):
                    return
        self.end_chunks()

    def end_chunks(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def do_POST(self):  # noqa: N802
        r = self.resolve_or_404()
        if not r:
            return
        group, version, ns, plural, name, kind, namespaced = r
        obj = self.read_body()
        if namespaced:
            obj.setdefault("metadata", {}).setdefault("namespace", ns or "default")
        code, stored = self.store.put(plural, obj, create_only=True)
        if code == 409:
            self.send_json(409, status(409, "AlreadyExists",
                                       f'{plural} "{obj["metadata"]["name"]}" already exists'))
        else:
            self.send_json(201, stored)

    def do_PUT(self):  # noqa: N802
        r = self.resolve_or_404()
        if not r:
            return
        group, version, ns, plural, name, kind, namespaced = r
        obj = self.read_body()
        if self.subresource == "status":
            # The status subresource changes only .status (as kube-apiserver does).
            with self.store.cond:
                current = self.store.objects[plural].get((ns, name))
            if current is not None:
                status_only = copy.deepcopy(current)
                status_only["status"] = obj.get("status", {})
                obj = status_only
        obj.setdefault("metadata", {})["name"] = name
        if namespaced:
            obj["metadata"]["namespace"] = ns
        code, stored = self.store.put(plural, obj, update_only=True)
        if code == 404:
            self.send_json(404, status(404, "NotFound", f'{plural} "{name}" not found'))
        else:
            self.send_json(200, stored)

    def do_DELETE(self):  # noqa: N802
        r = self.resolve_or_404()
        if not r:
            return
        group, version, ns, plural, name, kind, _ = r
        self.read_body()  # DeleteOptions (propagationPolicy...): accepted, not needed here
        obj = self.store.delete(plural, ns, name)
        if obj is None:
            self.send_json(404, status(404, "NotFound", f'{plural} "{name}" not found'))
        else:
            self.send_json(200, obj)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeKube:
    """In-process fake API server. apply() creates or replaces, delete() removes, compact()
    makes older resourceVersions expire (410 Gone on watch)."""

    def __init__(self, port: int = 0, bookmark_interval: float = 1.0, without=()):
        """`without`: resource plurals this API server does not serve (a CRD not installed):
        their requests are answered 404."""
        self.server = Server(("127.0.0.1", port), Handler)
        self.server.store = Store()
        self.server.without = set(without)
        self.server.stopping = False
        self.server.bookmark_interval = bookmark_interval
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FakeKube":
        self.thread.start()
        return self

    def stop(self):
        self.server.stopping = True
        self.server.shutdown()
        self.server.server_close()

    @property
    def store(self) -> Store:
        return self.server.store

    def apply(self, obj: dict) -> dict:
        plural = next(p for g, v, p, k, ns in RESOURCES if k == obj["kind"])
        return self.store.put(plural, obj)[1]

    def delete(self, kind: str, name: str, namespace: str = "default"):
        plural = next(p for g, v, p, k, ns in RESOURCES if k == kind)
        _, _, _, namespaced = self.store.kind_of(plural)
        return self.store.delete(plural, namespace if namespaced else "", name)

    def compact(self):
        self.store.compact()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("objects", nargs="*", help="JSON files with objects (or lists of them)")
    a = ap.parse_args()
    k = FakeKube(a.port)
    for path in a.objects:
        with open(path) as f:
            data = json.load(f)
        for o in data if isinstance(data, list) else [data]:
            k.apply(o)
    print(f"listening {k.port}", flush=True)
    k.start()
    try:
        k.thread.join()
    except KeyboardInterrupt:
        k.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
