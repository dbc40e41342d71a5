"""The http provider (polling a real HTTP server for JSON/YAML) and the rest provider (PUT
/api/providers/rest): routes appear, change and disappear while load runs on routes that do not
change; bad objects are dropped and named; a source that goes away leaves routes as they were;
unchanged services keep their upstream connections across rebuilds."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

import turnpike_it as it
from provider_it import Load, served_by, status_of, wait_until
from turnpike_it import Client


class ConfigServer:
    """A real HTTP server (http.server, own thread) serving `self.body` with `self.status`;
    records the request headers it saw."""

    def __init__(self, port: int = 0):
        self.body = b"{}"
        self.status = 200
        self.content_type = "application/json"
        self.seen_headers: list[dict] = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                outer.seen_headers.append(dict(self.headers))
                self.send_response(outer.status)
                self.send_header("Content-Type", outer.content_type)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def set(self, cfg: dict | str):
        self.body = (cfg if isinstance(cfg, str) else json.dumps(cfg)).encode()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def http_cfg(ups: dict, routes: dict) -> dict:
    """routes: host -> upstream name."""
    return {"http": {
        "routers": {h.split(".")[0]: {"rule": f"Host(`{h}`)", "service": f"svc-{u}"}
                    for h, u in routes.items()},
        "services": {f"svc-{n}": it.service(u) for n, u in ups.items()},
    }}


@pytest.fixture
def cfgsrv():
    s = ConfigServer()
    yield s
    s.stop()


def test_http_provider_add_change_remove_under_load(env, cfgsrv):
    ups = {n: env.upstream(n) for n in ("a", "b", "c")}
    cfgsrv.set(http_cfg(ups, {"stable.test": "a", "moving.test": "b"}))
    gw = env.gateway(static_extra={"providers": {"http": {
        "endpoint": f"http://127.0.0.1:{cfgsrv.port}/config",
        "pollInterval": "20ms", "pollTimeout": "2s",
        "headers": {"X-Token": "secret"}}}}, ready=("stable.test", "/"))
    assert cfgsrv.seen_headers[-1].get("X-Token") == "secret"
    load = Load(gw.port, ["stable.test"])
    try:
        assert served_by(gw.port, "moving.test") == "b"
        # add
        cfgsrv.set(http_cfg(ups, {"stable.test": "a", "moving.test": "b", "new.test": "c"}))
        wait_until(lambda: served_by(gw.port, "new.test") == "c", what="new route")
        # change
        cfgsrv.set(http_cfg(ups, {"stable.test": "a", "moving.test": "c", "new.test": "c"}))
        wait_until(lambda: served_by(gw.port, "moving.test") == "c", what="changed route")
        # remove
        cfgsrv.set(http_cfg(ups, {"stable.test": "a", "moving.test": "c"}))
        wait_until(lambda: status_of(gw.port, "new.test") == 404, what="removed route")
    finally:
        count, failures = load.stop()
    assert count > 0
    assert failures == [], failures[:5]


def test_http_provider_source_down_and_bad_input(env, cfgsrv):
    ups = {n: env.upstream(n) for n in ("a", "b")}
    cfgsrv.set(http_cfg(ups, {"stable.test": "a"}))
    gw = env.gateway(static_extra={"providers": {"http": {
        "endpoint": f"http://127.0.0.1:{cfgsrv.port}/", "pollInterval": "20ms"}}},
        ready=("stable.test", "/"))
    load = Load(gw.port, ["stable.test"])
    try:
        # A status other than 200 and a body that does not parse keep the last configuration.
        mark = gw.log_size()
        cfgsrv.status = 500
        gw.wait_log(r"providers\.http: .*status 500; keeping the last good configuration",
                    after=mark)
        mark = gw.log_size()
        cfgsrv.status = 200
        cfgsrv.set("{not json")
        gw.wait_log(r"providers\.http: .*127\.0\.0\.1.*keeping the last good configuration",
                    after=mark)
        assert served_by(gw.port, "stable.test") == "a"
        # One broken object (an unknown option) is dropped and named; the rest serves.
        cfg = http_cfg(ups, {"stable.test": "a", "other.test": "b", "broken.test": "b"})
        cfg["http"]["routers"]["broken"]["priorty"] = 5
        mark = gw.log_size()
        cfgsrv.set(cfg)
        wait_until(lambda: served_by(gw.port, "other.test") == "b", what="good routes")
        gw.wait_log(r"broken@http.*disabled", after=mark)
        assert "priorty" in gw.log()[mark:]
        assert status_of(gw.port, "broken.test") == 404
        # YAML bodies work too.
        cfgsrv.content_type = "application/yaml"
        cfgsrv.set(it.to_yaml(http_cfg(ups, {"stable.test": "a", "yaml.test": "b"})))
        wait_until(lambda: served_by(gw.port, "yaml.test") == "b", what="yaml route")
    finally:
        count, failures = load.stop()
    assert count > 0 and failures == [], failures[:5]


def test_http_provider_endpoint_gone_keeps_routes_then_recovers(env, cfgsrv):
    ups = {n: env.upstream(n) for n in ("a", "b")}
    cfgsrv.set(http_cfg(ups, {"stable.test": "a"}))
    port = cfgsrv.port
    gw = env.gateway(static_extra={"providers": {"http": {
        "endpoint": f"http://127.0.0.1:{port}/", "pollInterval": "20ms", "pollTimeout": "500ms"}}},
        ready=("stable.test", "/"))
    # The mark comes first: the provider logs the failure once, possibly within the 20 ms poll
    # interval after the stop.
    mark = gw.log_size()
    cfgsrv.stop()
    gw.wait_log(r"providers\.http: .*keeping the last good configuration", after=mark)
    for _ in range(20):
        assert served_by(gw.port, "stable.test") == "a"
    # The same port comes back with a new configuration.
    back = ConfigServer(port)
    try:
        back.set(http_cfg(ups, {"stable.test": "b"}))
        wait_until(lambda: served_by(gw.port, "stable.test") == "b", what="recovered source")
    finally:
        back.stop()


def put_rest(port: int, body, path="/api/providers/rest", method="PUT"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    with Client(port, timeout=5) as c:
        return c.request(path, method, host="gw", body=data,
                         headers=[("Content-Type", "application/json")])


def test_rest_provider_insecure_on_traefik_entrypoint(env):
    ups = {n: env.upstream(n) for n in ("a", "b", "c")}
    gw = env.gateway(entrypoints={"web": {}, "traefik": {}},
                     static_extra={"providers": {"rest": {"insecure": True}}},
                     dynamic=http_cfg(ups, {"stable.test": "a"}), ready=("stable.test", "/"))
    api = gw.ports["traefik"]
    load = Load(gw.port, ["stable.test"])
    try:
        r = put_rest(api, http_cfg(ups, {"r1.test": "b"}))
        assert r.status == 200, r.body
        wait_until(lambda: served_by(gw.port, "r1.test") == "b", what="rest route")
        # change and remove
        assert put_rest(api, http_cfg(ups, {"r1.test": "c"})).status == 200
        wait_until(lambda: served_by(gw.port, "r1.test") == "c", what="changed rest route")
        assert put_rest(api, {}).status == 200
        wait_until(lambda: status_of(gw.port, "r1.test") == 404, what="removed rest route")
        # Errors a client sees.
        r = put_rest(api, b"{nope")
        assert r.status == 400
        r = put_rest(api, {}, path="/api/providers/file")
        assert r.status == 404 and b"Only 'rest' provider" in r.body
        r = put_rest(api, b"", method="GET")
        assert r.status == 405
        # The rest router is not on the web entrypoint.
        assert put_rest(gw.port, {}).status == 404
        # A bad object is dropped, the rest of the PUT serves.
        cfg = http_cfg(ups, {"r2.test": "b", "r3.test": "c"})
        cfg["http"]["services"]["svc-c"]["loadBalancer"]["servers"] = "not-a-list"
        mark = gw.log_size()
        assert put_rest(api, cfg).status == 200
        wait_until(lambda: served_by(gw.port, "r2.test") == "b", what="good rest route")
        gw.wait_log(r"svc-c@rest.*disabled", after=mark)
        assert status_of(gw.port, "r3.test") != 200
    finally:
        count, failures = load.stop()
    assert count > 0 and failures == [], failures[:5]


def test_rest_internal_service_behind_user_router(env):
    """`service: rest@internal` from another provider's router (the secure way in Traefik)."""
    up = env.upstream("a")
    dyn = {"http": {"routers": {"api": {"rule": "Host(`admin.test`) && PathPrefix(`/api`)",
                                        "service": "rest@internal"}}}}
    gw = env.gateway(static_extra={"providers": {"rest": {}}}, dynamic=dyn,
                     ready=("admin.test", "/api/providers/rest"))
    with Client(gw.port) as c:
        r = c.request("/api/providers/rest", "PUT", host="admin.test",
                      body=json.dumps(http_cfg({"a": up}, {"x.test": "a"})))
        assert r.status == 200, r.body
    wait_until(lambda: served_by(gw.port, "x.test") == "a", what="route via rest@internal")


def test_unchanged_service_keeps_upstream_connection_across_rebuilds(env, cfgsrv):
    """A provider change elsewhere must not drop an unchanged service's pooled connection (the
    upstream sees the same connection id before and after) or its passive health state."""
    ups = {n: env.upstream(n) for n in ("a", "b")}
    cfgsrv.set(http_cfg(ups, {"other.test": "b"}))
    gw = env.gateway(static_extra={"providers": {"http": {
        "endpoint": f"http://127.0.0.1:{cfgsrv.port}/", "pollInterval": "20ms"}},
        "core": {"workers": 1}},
        dynamic=http_cfg(ups, {"stable.test": "a"}), ready=("stable.test", "/"))
    wait_until(lambda: served_by(gw.port, "other.test") == "b", what="http provider route")
    with Client(gw.port) as c:
        first = c.get("/", host="stable.test").echo.conn_id
        for i in range(5):
            mark = gw.log_size()
            cfgsrv.set(http_cfg(ups, {"other.test": "b", f"n{i}.test": "b"}))
            gw.wait_log(r"configuration \d+ applied", after=mark)
            wait_until(lambda: served_by(gw.port, f"n{i}.test") == "b", what="new route")
            assert c.get("/", host="stable.test").echo.conn_id == first
