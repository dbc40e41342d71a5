"""The kubernetesGateway provider (Gateway API v1: GatewayClass, Gateway, HTTPRoute) against the
in-repo fake API server (tests/fakes/fake_kube_apiserver.py), with real upstreams as the
EndpointSlices' endpoints: a route appears, follows weight and match changes and disappears
while load runs on a route that does not change; a backendRef to a missing Service gets its share
of the traffic answered 500 (Gateway API); a listener's hostname and allowedRoutes decide which routes attach; filters become
middlewares; an HTTPS listener serves its Secret's certificate; kubectl drives the fake."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import turnpike_it as it
import upstream_it as ut
from provider_it import Load, served_by, status_of, wait_until
from test_provider_kubernetes import backends, kubectl, service, slice_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_kube_apiserver import FakeKube  # noqa: E402

GW_API = "gateway.networking.k8s.io/v1"


@pytest.fixture
def kube():
    k = FakeKube(bookmark_interval=0.2).start()
    k.apply({"apiVersion": GW_API, "kind": "GatewayClass", "metadata": {"name": "traefik"},
             "spec": {"controllerName": "traefik.io/gateway-controller"}})
    yield k
    k.stop()


def gateway(port, name="gw", hostname=None, allowed=None, protocol="HTTP", tls=None,
            listener="http"):
    lst = {"name": listener, "port": port, "protocol": protocol}
    if hostname:
        lst["hostname"] = hostname
    if allowed:
        lst["allowedRoutes"] = {"namespaces": allowed}
    if tls:
        lst["tls"] = tls
    return {"apiVersion": GW_API, "kind": "Gateway",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"gatewayClassName": "traefik", "listeners": [lst]}}


def http_route(name, hostnames, backends_, ns="default", matches=None, filters=None,
               gateway_name="gw"):
    rule = {"backendRefs": [{"name": b, "port": 80, "weight": w} for b, w in backends_]}
    if matches:
        rule["matches"] = matches
    if filters:
        rule["filters"] = filters
    return {"apiVersion": GW_API, "kind": "HTTPRoute", "metadata": {"name": name, "namespace": ns},
            "spec": {"parentRefs": [{"name": gateway_name, "namespace": "default"}],
                     "hostnames": hostnames, "rules": [rule]}}


def route_conditions(kube, name, ns="default", plural="httproutes"):
    """{condition type: (status, reason)} of an HTTPRoute's (GRPCRoute's) status.parents, as the
    gateway wrote them back."""
    with kube.store.cond:
        obj = kube.store.objects[plural].get((ns, name)) or {}
    return {c["type"]: (c["status"], c["reason"])
            for p in obj.get("status", {}).get("parents", []) for c in p["conditions"]}


def gw_gateway(env, kube, entrypoints=None):
    return env.gateway(entrypoints=entrypoints,
                       static_extra={"providers": {"kubernetesGateway": {"endpoint": kube.url}}})


def test_httproute_add_change_remove_under_load(env, kube):
    ups = {n: env.upstream(n) for n in ("a", "b", "c")}
    backends(kube, ups)
    gw = gw_gateway(env, kube)
    kube.apply(gateway(gw.port))
    kube.apply(http_route("stable", ["stable.gw.test"], [("a", 1)]))
    wait_until(lambda: served_by(gw.port, "stable.gw.test") == "a", what="stable HTTPRoute")
    load = Load(gw.port, ["stable.gw.test"])
    try:
        kube.apply(http_route("app", ["app.gw.test"], [("b", 1)]))
        _, add = wait_until(lambda: served_by(gw.port, "app.gw.test") == "b", what="new route")
        # Weights: b and c share the traffic, then c takes it all (weight 0 = no traffic).
        kube.apply(http_route("app", ["app.gw.test"], [("b", 1), ("c", 1)]))
        seen = set()

        def both():
            seen.add(served_by(gw.port, "app.gw.test"))
            return {"b", "c"} <= seen
        wait_until(both, what="weighted backendRefs")
        kube.apply(http_route("app", ["app.gw.test"], [("b", 0), ("c", 1)]))
        _, change = wait_until(
            lambda: all(served_by(gw.port, "app.gw.test") == "c" for _ in range(6)),
            what="weight 0 takes b out")
        # Matches: only GET /only (Exact) now; the rest of the host is 404.
        kube.apply(http_route("app", ["app.gw.test"], [("c", 1)], matches=[
            {"path": {"type": "Exact", "value": "/only"}, "method": "GET"}]))
        wait_until(lambda: status_of(gw.port, "app.gw.test") == 404, what="match change")
        with it.Client(gw.port) as c:
            r = c.get("/only", host="app.gw.test")
            assert r.status == 200 and r.echo.name == "c" and r.echo.path == "/only"
            assert c.request("/only", "POST", host="app.gw.test", body=b"x").status == 404
        # Endpoints change: Service c now points at upstream a.
        kube.apply(slice_for("c", ups["a"]))
        wait_until(lambda: (r := it.request(gw.port, "/only", host="app.gw.test")).status == 200
                   and r.echo.name == "a", what="new endpoints")
        kube.delete("HTTPRoute", "app")
        _, remove = wait_until(lambda: it.request(gw.port, "/only", host="app.gw.test").status
                               == 404, what="deleted route")
    finally:
        count, failures = load.stop()
    it.MEASUREMENTS.append(
        f"kubernetesGateway: watch event -> route serving: add {add * 1000:.0f} ms, weight change "
        f"{change * 1000:.0f} ms, remove {remove * 1000:.0f} ms; load on an unchanged route: "
        f"{count} requests, {len(failures)} failures")
    assert count > 0 and failures == [], failures[:5]


def test_missing_backend_is_answered_500(env, kube):
    backends(kube, {"a": env.upstream("a")})
    gw = gw_gateway(env, kube)
    mark = gw.log_size()
    kube.apply(gateway(gw.port))
    kube.apply(http_route("ok", ["ok.gw.test"], [("a", 1)]))
    kube.apply(http_route("broken", ["broken.gw.test"], [("nope", 1)]))
    kube.apply(http_route("half", ["half.gw.test"], [("a", 1), ("nope", 1)]))
    wait_until(lambda: served_by(gw.port, "ok.gw.test") == "a", what="the good route")
    gw.wait_log(r"httproute default/broken: backendRef nope: service default/nope not found; "
                r"requests for that backend are answered 500", after=mark)
    # Gateway API: the traffic of a backendRef that does not resolve gets 500, nothing else.
    r = it.request(gw.port, "/", host="broken.gw.test")
    assert r.status == 500 and r.body == b"Internal Server Error"
    wait_until(lambda: status_of(gw.port, "half.gw.test") != 404, what="the half-broken route")
    seen = [it.request(gw.port, "/", host="half.gw.test") for _ in range(8)]
    assert sorted({r.status for r in seen}) == [200, 500], [r.status for r in seen]
    assert all(r.echo.name == "a" for r in seen if r.status == 200)
    # Status written back: the broken route is accepted with unresolved refs; the good one not.
    wait_until(lambda: route_conditions(kube, "broken") == {
        "Accepted": ("True", "Accepted"), "ResolvedRefs": ("False", "BackendNotFound")},
        what="status of the broken route")
    wait_until(lambda: route_conditions(kube, "ok") == {
        "Accepted": ("True", "Accepted"), "ResolvedRefs": ("True", "ResolvedRefs")},
        what="status of the good route")

    def attached():
        with kube.store.cond:
            gw_obj = kube.store.objects["gateways"][("default", "gw")]
            return gw_obj.get("status", {}).get("listeners", [{}])[0].get("attachedRoutes")
    wait_until(lambda: attached() == 3, what="attachedRoutes of the listener")
    wait_until(lambda: route_conditions(kube, "half").get("ResolvedRefs")
               == ("False", "BackendNotFound"), what="status of the half-broken route")
    # The Service appears: the route serves.
    backends(kube, {"nope": env.upstream("n")})
    wait_until(lambda: served_by(gw.port, "broken.gw.test") == "n", what="route repaired")
    wait_until(lambda: route_conditions(kube, "broken")["ResolvedRefs"] == ("True", "ResolvedRefs"),
               what="status of the repaired route")
    assert {served_by(gw.port, "half.gw.test") for _ in range(8)} <= {"a", "n"}
    # A Gateway of another controller's class is not ours: its routes are not served.
    kube.apply({"apiVersion": GW_API, "kind": "GatewayClass", "metadata": {"name": "other"},
                "spec": {"controllerName": "example.com/other"}})
    theirs = gateway(gw.port, name="theirs")
    theirs["spec"]["gatewayClassName"] = "other"
    kube.apply(theirs)
    kube.apply(http_route("theirs", ["theirs.gw.test"], [("a", 1)], gateway_name="theirs"))
    kube.apply(http_route("after", ["after.gw.test"], [("a", 1)]))
    wait_until(lambda: served_by(gw.port, "after.gw.test") == "a", what="a later route")
    assert status_of(gw.port, "theirs.gw.test") == 404


def reference_grant(name, ns, from_kind, from_ns, to_kind, to_name=None):
    to = {"group": "", "kind": to_kind}
    if to_name:
        to["name"] = to_name
    return {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": from_kind,
                               "namespace": from_ns}],
                     "to": [to]}}


def test_reference_grant_admits_cross_namespace_backend(env, kube):
    """A backendRef to a Service of another namespace is answered 500 (RefNotPermitted) until a
    ReferenceGrant there allows it, and again once the grant goes."""
    backends(kube, {"shared": env.upstream("shared")})
    gw = gw_gateway(env, kube)
    kube.apply(gateway(gw.port, allowed={"from": "All"}))
    route = http_route("cross", ["cross.gw.test"], [("shared", 1)], ns="team")
    route["spec"]["rules"][0]["backendRefs"][0]["namespace"] = "default"
    kube.apply(route)
    wait_until(lambda: status_of(gw.port, "cross.gw.test") == 500, what="refused cross-namespace")
    assert route_conditions(kube, "cross", "team")["ResolvedRefs"] == ("False", "RefNotPermitted")
    # A grant for another kind, or from another namespace, does not count.
    kube.apply(reference_grant("wrong", "default", "HTTPRoute", "elsewhere", "Service"))
    kube.apply(reference_grant("secrets", "default", "HTTPRoute", "team", "Secret"))
    kube.apply(reference_grant("other-name", "default", "HTTPRoute", "team", "Service", "nope"))
    kube.apply(http_route("later", ["later.gw.test"], [("shared", 1)]))
    wait_until(lambda: served_by(gw.port, "later.gw.test") == "shared", what="a later event")
    assert status_of(gw.port, "cross.gw.test") == 500
    kube.apply(reference_grant("team-to-shared", "default", "HTTPRoute", "team", "Service",
                               "shared"))
    wait_until(lambda: served_by(gw.port, "cross.gw.test") == "shared", what="granted")
    wait_until(lambda: route_conditions(kube, "cross", "team")["ResolvedRefs"]
               == ("True", "ResolvedRefs"), what="status after the grant")
    kube.delete("ReferenceGrant", "team-to-shared")
    wait_until(lambda: status_of(gw.port, "cross.gw.test") == 500, what="grant withdrawn")


def test_request_mirror_filter(env, kube):
    """RequestMirror: every request is served by the rule's backend and a copy goes to the
    mirror's Service, whose answers are discarded."""
    ups = {"main": env.upstream("main"), "shadow": env.upstream("shadow")}
    backends(kube, ups)
    gw = gw_gateway(env, kube)
    kube.apply(gateway(gw.port))
    kube.apply(http_route("mirrored", ["mirror.gw.test"], [("main", 1)], filters=[
        {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow",
                                                                   "port": 80}}}]))
    wait_until(lambda: served_by(gw.port, "mirror.gw.test") == "main", what="mirrored route")
    before = ups["shadow"].stats()["app_requests"]
    for _ in range(5):
        assert served_by(gw.port, "mirror.gw.test") == "main"
    wait_until(lambda: ups["shadow"].stats()["app_requests"] - before == 5,
               what="five copies at the mirror")


def grpc_route(name, hostnames, backends_, matches=None):
    rule = {"backendRefs": [{"name": b, "port": 80, "weight": w} for b, w in backends_]}
    if matches:
        rule["matches"] = matches
    return {"apiVersion": GW_API, "kind": "GRPCRoute",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "default"}],
                     "hostnames": hostnames, "rules": [rule]}}


def test_grpcroute_to_a_real_grpc_server(env, kube):
    """A GRPCRoute reaches a real gRPC server over h2c (grpcio client over HTTP/2 with prior
    knowledge): unary and server streaming calls of the matched service; another service is not
    routed; a backendRef to a missing Service answers gRPC UNAVAILABLE."""
    import grpc
    peer = ut.grpc_peer(env, "grpc")
    kube.apply(service("echo"))
    kube.apply(slice_for("echo", peer))
    gw = gw_gateway(env, kube)
    kube.apply(gateway(gw.port))
    kube.apply(grpc_route("echo", ["grpc.gw.test"], [("echo", 1)],
                          matches=[{"method": {"service": "turnpike.test.Echo"}}]))
    kube.apply(grpc_route("missing", ["missing.gw.test"], [("nope", 1)]))

    def channel(authority):
        return grpc.insecure_channel(f"127.0.0.1:{gw.port}",
                                     options=[("grpc.default_authority", authority)])

    def unary(ch, method="/turnpike.test.Echo/Unary"):
        try:
            return ch.unary_unary(method)(b"hi", timeout=5)
        except grpc.RpcError as e:
            return e.code()

    with channel("grpc.gw.test") as ch:
        wait_until(lambda: unary(ch) == b"echo:hi", what="GRPCRoute serving")
        assert list(ch.unary_stream("/turnpike.test.Echo/ServerStream")(b"3", timeout=5)) == [
            b"part-0", b"part-1", b"part-2"]
        # The match names the service: another one has no route (HTTP 404: UNIMPLEMENTED).
        assert unary(ch, "/other.Service/Unary") == grpc.StatusCode.UNIMPLEMENTED
    with channel("missing.gw.test") as ch:
        wait_until(lambda: unary(ch) == grpc.StatusCode.UNAVAILABLE, what="missing backend")
    wait_until(lambda: route_conditions(kube, "missing", plural="grpcroutes").get("ResolvedRefs")
               == ("False", "BackendNotFound"), what="GRPCRoute status")
    wait_until(lambda: route_conditions(kube, "echo", plural="grpcroutes") == {
        "Accepted": ("True", "Accepted"), "ResolvedRefs": ("True", "ResolvedRefs")},
        what="status of the good GRPCRoute")


def test_listener_hostname_and_allowed_namespaces(env, kube):
    ups = {"a": env.upstream("a"), "t": env.upstream("t")}
    backends(kube, {"a": ups["a"]})
    kube.apply(service("a", ns="team"))
    kube.apply(slice_for("a", ups["t"], ns="team"))
    gw = gw_gateway(env, kube)
    mark = gw.log_size()
    kube.apply(gateway(gw.port, hostname="*.allowed.test"))
    kube.apply(http_route("inside", ["x.allowed.test"], [("a", 1)]))
    kube.apply(http_route("outside", ["x.other.test"], [("a", 1)]))
    kube.apply(http_route("any", [], [("a", 1)]))  # inherits the listener's hostname
    kube.apply(http_route("team", ["team.allowed.test"], [("a", 1)], ns="team"))
    wait_until(lambda: served_by(gw.port, "x.allowed.test") == "a", what="route in the listener")
    assert served_by(gw.port, "y.allowed.test") == "a"  # the wildcard listener's own route
    assert status_of(gw.port, "x.other.test") == 404
    gw.wait_log(r"httproute default/outside: no hostname of the route matches listener http",
                after=mark)
    gw.wait_log(r"httproute team/team: listener http of gateway default/gw does not allow routes "
                r"from namespace team \(allowedRoutes Same\)", after=mark)
    # (the name is still under the wildcard listener: route "any" of default answers it)
    assert served_by(gw.port, "team.allowed.test") == "a"
    wait_until(lambda: route_conditions(kube, "team", "team").get("Accepted") ==
               ("False", "NotAllowedByListeners"), what="status of the refused route")
    assert route_conditions(kube, "outside")["Accepted"] == ("False", "NoMatchingListenerHostname")
    # allowedRoutes Selector: namespaces labelled gateway-access=yes.
    kube.apply({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team", "labels": {"gateway-access": "yes"}}})
    kube.apply(gateway(gw.port, hostname="*.allowed.test", allowed={
        "from": "Selector", "selector": {"matchLabels": {"gateway-access": "yes"}}}))
    wait_until(lambda: served_by(gw.port, "team.allowed.test") == "t", what="Selector admits team")
    # ...which refuses the default namespace (no such label): its routes go.
    wait_until(lambda: status_of(gw.port, "x.allowed.test") == 404, what="Selector refuses default")
    kube.apply(gateway(gw.port, hostname="*.allowed.test", allowed={"from": "All"}))
    wait_until(lambda: served_by(gw.port, "x.allowed.test") == "a", what="All")
    assert served_by(gw.port, "team.allowed.test") == "t"


def test_filters_and_https_listener(env, kube, pki):
    backends(kube, {"a": env.upstream("a")})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "gw-cert", "namespace": "default"},
                "data": {"tls.crt": base64.b64encode(Path(pki.path("other.pem")).read_bytes())
                         .decode(),
                         "tls.key": base64.b64encode(Path(pki.path("other.key")).read_bytes())
                         .decode()}})
    kube.apply({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                "metadata": {"name": "tag", "namespace": "default"},
                "spec": {"headers": {"customRequestHeaders": {"X-Crd": "on"}}}})
    gw = env.gateway(entrypoints={"web": {}, "websecure": {}}, static_extra={"providers": {
        "kubernetesGateway": {"endpoint": kube.url}, "kubernetesCRD": {"endpoint": kube.url}}})
    kube.apply(gateway(gw.ports["web"]))
    kube.apply(http_route("hdr", ["hdr.gw.test"], [("a", 1)], filters=[
        {"type": "RequestHeaderModifier", "requestHeaderModifier": {
            "set": [{"name": "X-Set", "value": "yes"}],
            "add": [{"name": "X-Add", "value": "gw"}], "remove": ["X-Drop"]}},
        {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
            "add": [{"name": "X-Resp", "value": "r"}, {"name": "Content-Type", "value": "x/y"}],
            "set": [{"name": "X-Upstream-Name", "value": "gw"}]}},
        {"type": "ExtensionRef", "extensionRef": {"group": "traefik.io", "kind": "Middleware",
                                                  "name": "tag"}}]))
    # A redirect rule needs no backendRef (the filter answers).
    kube.apply(http_route("redir", ["redir.gw.test"], [], filters=[
        {"type": "RequestRedirect", "requestRedirect": {
            "scheme": "https", "hostname": "secure.test", "statusCode": 301}}]))
    kube.apply(http_route("rewrite", ["rewrite.gw.test"], [("a", 1)],
                          matches=[{"path": {"type": "PathPrefix", "value": "/api"}}],
                          filters=[{"type": "URLRewrite", "urlRewrite": {"path": {
                              "type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"}}}]))
    wait_until(lambda: served_by(gw.port, "hdr.gw.test") == "a", what="filtered route")
    r = it.request(gw.port, "/", host="hdr.gw.test",
                   headers=[("X-Drop", "x"), ("X-Set", "client"), ("X-Add", "client")])
    # set replaces, add appends a field after the client's (Gateway API HTTPHeaderFilter).
    assert r.echo.header_all("X-Set") == ["yes"] and not r.echo.has("X-Drop")
    assert r.echo.header_all("X-Add") == ["client", "gw"]
    assert r.echo.header("X-Crd") == "on" and r.header("X-Resp") == "r"
    assert r.header_all("Content-Type") == ["application/json", "x/y"]
    assert r.header_all("X-Upstream-Name") == ["gw"]  # set replaced the upstream's
    wait_until(lambda: it.request(gw.port, "/p?q=1", host="redir.gw.test").status == 301,
               what="redirect route")
    r = it.request(gw.port, "/p?q=1", host="redir.gw.test")
    assert r.header("Location") == "https://secure.test/p?q=1"
    wait_until(lambda: it.request(gw.port, "/api/x", host="rewrite.gw.test").status == 200,
               what="rewrite route")
    assert it.request(gw.port, "/api/x", host="rewrite.gw.test").echo.path == "/v2/x"
    assert status_of(gw.port, "rewrite.gw.test", "/apix") == 404  # not under the /api prefix

    # An HTTPS listener on websecure with the Secret's certificate.
    port = gw.ports["websecure"]
    sec = gateway(port, name="secure", protocol="HTTPS", listener="https",
                  tls={"certificateRefs": [{"kind": "Secret", "name": "gw-cert"}]})
    kube.apply(sec)
    route = http_route("tls", ["other.test"], [("a", 1)], gateway_name="secure")
    kube.apply(route)

    def https_get():
        r = subprocess.run(["curl", "-s", "--cacert", pki.path("ca.pem"), "--resolve",
                            f"other.test:{port}:127.0.0.1", f"https://other.test:{port}/"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout if r.returncode == 0 else None
    body, _ = wait_until(https_get, what="HTTPS listener with the Secret's certificate")
    assert json.loads(body)["name"] == "a"


def test_backend_tls_policy_verifies_the_backend_with_its_configmap_ca(env, kube, pki):
    """BackendTLSPolicy (Gateway API v1): the backend is reached over TLS, verified against the
    ConfigMap's ca.crt under the policy's hostname, which is also the SNI."""
    peer = ut.upstream_peer(env, "tlsback", "--tls", pki.path("server.pem"),
                            pki.path("server.key"), "--alpn", "http/1.1")
    kube.apply(service("secure"))
    kube.apply(slice_for("secure", peer))
    gw = gw_gateway(env, kube)
    kube.apply(gateway(gw.port))
    kube.apply(http_route("tlsb", ["tlsb.gw.test"], [("secure", 1)]))
    # Without a policy the gateway speaks cleartext HTTP to the TLS port: no answer from it.
    wait_until(lambda: status_of(gw.port, "tlsb.gw.test") == 502, what="route without TLS")
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "backend-ca", "namespace": "default"},
                "data": {"ca.crt": Path(pki.path("ca.pem")).read_text()}})
    policy = {"apiVersion": GW_API, "kind": "BackendTLSPolicy",
              "metadata": {"name": "secure-tls", "namespace": "default"},
              "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "secure"}],
                       "validation": {"hostname": "upstream.test", "caCertificateRefs": [
                           {"group": "", "kind": "ConfigMap", "name": "backend-ca"}]}}}
    kube.apply(policy)
    wait_until(lambda: status_of(gw.port, "tlsb.gw.test") == 200, what="route over TLS")
    echo = it.request(gw.port, "/", host="tlsb.gw.test").json()
    assert echo["name"] == "tlsback" and echo["tls"]["sni"] == "upstream.test"
    # A hostname the certificate does not name fails verification: 502, not a silent fallback.
    policy["spec"]["validation"]["hostname"] = "other.test"
    kube.apply(policy)
    wait_until(lambda: status_of(gw.port, "tlsb.gw.test") == 502, what="verification failure")


def test_status_address_is_written_to_gateways(env, kube):
    """statusAddress.service: our Gateways report that Service's load-balancer addresses in
    status.addresses, and follow it when it changes."""
    backends(kube, {"a": env.upstream("a")})
    lb = {**service("traefik-lb"), "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}}}
    kube.apply(lb)
    gw = env.gateway(static_extra={"providers": {"kubernetesGateway": {
        "endpoint": kube.url,
        "statusAddress": {"service": {"name": "traefik-lb", "namespace": "default"}}}}})
    kube.apply(gateway(gw.port))

    def addresses():
        with kube.store.cond:
            obj = kube.store.objects["gateways"].get(("default", "gw")) or {}
        return obj.get("status", {}).get("addresses")
    wait_until(lambda: addresses() == [{"type": "IPAddress", "value": "203.0.113.9"}],
               what="Gateway status.addresses")
    lb["status"]["loadBalancer"]["ingress"] = [{"hostname": "lb.example.test"}]
    kube.apply(lb)
    wait_until(lambda: addresses() == [{"type": "Hostname", "value": "lb.example.test"}],
               what="status.addresses following the Service")


def test_a_cluster_without_backendtlspolicies_is_served(env):
    """BackendTLSPolicy is optional: on an API server without its CRD (404), routes still serve."""
    kube = FakeKube(bookmark_interval=0.2, without={"backendtlspolicies"}).start()
    try:
        kube.apply({"apiVersion": GW_API, "kind": "GatewayClass", "metadata": {"name": "traefik"},
                    "spec": {"controllerName": "traefik.io/gateway-controller"}})
        backends(kube, {"a": env.upstream("a")})
        gw = gw_gateway(env, kube)
        kube.apply(gateway(gw.port))
        kube.apply(http_route("r", ["nocrd.gw.test"], [("a", 1)]))
        wait_until(lambda: served_by(gw.port, "nocrd.gw.test") == "a",
                   what="route on a cluster without BackendTLSPolicy")
        assert "backendtlspolicies: not served by the API server" in gw.log()
    finally:
        kube.stop()


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kubectl_creates_gateway_and_route(env, kube, tmp_path):
    backends(kube, {"a": env.upstream("a")})
    gw = gw_gateway(env, kube)
    manifest = tmp_path / "gw.json"
    manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        gateway(gw.port), http_route("from-kubectl", ["kubectl.gw.test"], [("a", 1)])]}))
    kubectl(kube, "create", "--validate=false", "-f", str(manifest))
    assert "from-kubectl" in kubectl(kube, "get", "httproutes", "-A")
    wait_until(lambda: served_by(gw.port, "kubectl.gw.test") == "a", what="kubectl's route")
    kubectl(kube, "delete", "httproute", "from-kubectl")
    wait_until(lambda: status_of(gw.port, "kubectl.gw.test") == 404, what="deleted by kubectl")
