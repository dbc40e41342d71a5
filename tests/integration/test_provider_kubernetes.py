"""The kubernetesIngress and kubernetesCRD providers against the in-repo fake API server
(tests/fakes/fake_kube_apiserver.py: the real list/watch wire format, bookmarks, 410 Gone),
with real upstreams as the EndpointSlices' endpoints: routes appear, change and disappear while
load runs on routes that do not change; an Ingress pointing at a missing Service is reported and
the rest serves; history compaction (410) and an API server outage keep routes serving; kubectl
can drive the fake, and the gateway follows what kubectl creates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import turnpike_it as it
from provider_it import Load, served_by, status_of, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from fake_kube_apiserver import FakeKube  # noqa: E402


def service(name, ns="default", port=80, port_name="http"):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}}


def slice_for(name, upstream, ns="default", port_name="http", ready=True):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-abc", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": upstream.port, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": ready}}]}


def ingress(name, rules, ns="default", annotations=None, cls=None, tls=None):
    spec = {"rules": [{"host": h, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}
        for h, svc in rules.items()]}
    if cls:
        spec["ingressClassName"] = cls
    if tls:
        spec["tls"] = tls
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}},
            "spec": spec}


@pytest.fixture
def kube():
    k = FakeKube(bookmark_interval=0.2).start()
    yield k
    k.stop()


def backends(kube, ups: dict):
    for name, up in ups.items():
        kube.apply(service(name))
        kube.apply(slice_for(name, up))


def k8s_gateway(env, kube, provider="kubernetesIngress", **opts):
    return env.gateway(static_extra={"providers": {provider: {"endpoint": kube.url, **opts}}})


def test_ingress_add_change_remove_under_load(env, kube):
    ups = {n: env.upstream(n) for n in ("a", "b", "c")}
    backends(kube, ups)
    kube.apply(ingress("stable", {"stable.k8s.test": "a"}))
    gw = k8s_gateway(env, kube)
    wait_until(lambda: served_by(gw.port, "stable.k8s.test") == "a", what="stable ingress")
    load = Load(gw.port, ["stable.k8s.test"])
    try:
        kube.apply(ingress("app", {"app.k8s.test": "b"}))
        _, add = wait_until(lambda: served_by(gw.port, "app.k8s.test") == "b", what="new ingress")
        kube.apply(ingress("app", {"app.k8s.test": "c"}))
        _, change = wait_until(lambda: served_by(gw.port, "app.k8s.test") == "c",
                               what="changed ingress")
        # endpoints change: service c now points at upstream a
        kube.apply(slice_for("c", ups["a"]))
        wait_until(lambda: served_by(gw.port, "app.k8s.test") == "a", what="new endpoints")
        kube.delete("Ingress", "app")
        _, remove = wait_until(lambda: status_of(gw.port, "app.k8s.test") == 404,
                               what="removed ingress")
    finally:
        count, failures = load.stop()
    it.MEASUREMENTS.append(
        f"kubernetesIngress: watch event -> route serving: add {add * 1000:.0f} ms, change "
        f"{change * 1000:.0f} ms, remove {remove * 1000:.0f} ms; load on an unchanged route: "
        f"{count} requests, {len(failures)} failures")
    assert count > 0 and failures == [], failures[:5]


def test_ingress_missing_service_is_reported_rest_serves(env, kube):
    ups = {"a": env.upstream("a")}
    backends(kube, ups)
    gw = k8s_gateway(env, kube)
    mark = gw.log_size()
    kube.apply(ingress("broken", {"broken.k8s.test": "nope", "ok.k8s.test": "a"}))
    wait_until(lambda: served_by(gw.port, "ok.k8s.test") == "a", what="the good path")
    gw.wait_log(r"ingress default/broken: path broken\.k8s\.test/: service default/nope not found",
                after=mark)
    assert status_of(gw.port, "broken.k8s.test") == 404
    # Ingress classes: another controller's class is ignored, ours is taken.
    kube.apply({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": "traefik"}, "spec": {"controller": "traefik.io/ingress-controller"}})
    kube.apply({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}})
    kube.apply(ingress("mine", {"mine.k8s.test": "a"}, cls="traefik"))
    kube.apply(ingress("theirs", {"theirs.k8s.test": "a"}, cls="nginx"))
    wait_until(lambda: served_by(gw.port, "mine.k8s.test") == "a", what="our class")
    assert status_of(gw.port, "theirs.k8s.test") == 404


def test_ingress_annotations_and_tls(env, kube, pki):
    ups = {"a": env.upstream("a")}
    backends(kube, ups)
    import base64
    cert, key = pki.path("other.pem"), pki.path("other.key")  # DNS:other.test
    kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "tls-secret", "namespace": "default"},
                "data": {"tls.crt": base64.b64encode(Path(cert).read_bytes()).decode(),
                         "tls.key": base64.b64encode(Path(key).read_bytes()).decode()}})
    gw = env.gateway(entrypoints={"web": {}, "websecure": {}},
                     static_extra={"providers": {"kubernetesIngress": {"endpoint": kube.url}}},
                     dynamic={"http": {"middlewares": {"tag": {"headers": {
                         "customRequestHeaders": {"X-From-File": "yes"}}}}}})
    kube.apply(ingress("secure", {"other.test": "a"}, tls=[{"hosts": ["other.test"],
                                                              "secretName": "tls-secret"}],
                       annotations={
                           "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
                           "traefik.ingress.kubernetes.io/router.middlewares": "tag@file"}))
    port = gw.ports["websecure"]

    def https_get():
        r = subprocess.run(["curl", "-s", "--cacert", pki.path("ca.pem"), "--resolve",
                            f"other.test:{port}:127.0.0.1", f"https://other.test:{port}/"],
                           capture_output=True, text=True, timeout=10)
        return r.stdout if r.returncode == 0 else None

    body, _ = wait_until(https_get, what="TLS route with the secret's certificate")
    echo = json.loads(body)
    assert echo["name"] == "a"
    assert ["x-from-file", "yes"] in [[k.lower(), v] for k, v in echo["headers"]]


def test_watch_410_gone_and_api_server_outage(env, kube):
    ups = {n: env.upstream(n) for n in ("a", "b")}
    backends(kube, ups)
    kube.apply(ingress("one", {"one.k8s.test": "a"}))
    gw = k8s_gateway(env, kube)
    wait_until(lambda: served_by(gw.port, "one.k8s.test") == "a", what="first ingress")
    # History compaction: resuming watches get 410 Gone and must re-list.
    mark = gw.log_size()
    kube.compact()
    kube.apply(ingress("two", {"two.k8s.test": "b"}))
    wait_until(lambda: served_by(gw.port, "two.k8s.test") == "b", what="ingress after 410")
    gw.wait_log(r"410 Gone", after=mark)
    # The API server goes away: routes stay. It comes back on the same port: changes apply.
    port = kube.port
    store = kube.store
    kube.stop()
    gw.wait_log(r"the routes stay as they are, retrying", after=mark)
    for _ in range(20):
        assert served_by(gw.port, "one.k8s.test") == "a"
    back = FakeKube(port=port, bookmark_interval=0.2)
    back.server.store = store
    back.start()
    try:
        back.apply(ingress("three", {"three.k8s.test": "a"}))
        wait_until(lambda: served_by(gw.port, "three.k8s.test") == "a", timeout=30,
                   what="ingress after the API server came back")
    finally:
        back.stop()


def kubectl(kube, *args) -> str:
    """Runs kubectl against the fake API server; its stdout (a failure fails the test)."""
    return subprocess.run(["kubectl", "--server", kube.url, *args], check=True,
                          capture_output=True, text=True, timeout=60).stdout


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kubectl_drives_the_fake_and_the_gateway_follows(env, kube, tmp_path):
    ups = {"a": env.upstream("a")}
    backends(kube, ups)
    gw = k8s_gateway(env, kube)
    manifest = tmp_path / "ing.json"
    manifest.write_text(json.dumps(ingress("from-kubectl", {"kubectl.k8s.test": "a"})))
    kubectl(kube, "create", "--validate=false", "-f", str(manifest))
    assert "from-kubectl" in kubectl(kube, "get", "ingresses", "-A")
    wait_until(lambda: served_by(gw.port, "kubectl.k8s.test") == "a", what="kubectl's ingress")
    kubectl(kube, "delete", "ingress", "from-kubectl")
    wait_until(lambda: status_of(gw.port, "kubectl.k8s.test") == 404, what="deleted by kubectl")


def ingress_route(name, match, services, middlewares=(), ns="default", tls=None):
    spec = {"entryPoints": ["web"], "routes": [{
        "match": match, "kind": "Rule", "services": services,
        "middlewares": [{"name": m} for m in middlewares]}]}
    if tls:
        spec["tls"] = tls
    return {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_crd_ingressroute_middleware_traefikservice(env, kube):
    ups = {n: env.upstream(n) for n in ("a", "b")}
    backends(kube, ups)
    kube.apply({"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware",
                "metadata": {"name": "tag", "namespace": "default"},
                "spec": {"headers": {"customRequestHeaders": {"X-Crd": "on"}}}})
    kube.apply(ingress_route("stable", "Host(`stable.crd.test`)",
                             [{"name": "a", "port": 80}], middlewares=["tag"]))
    gw = k8s_gateway(env, kube, provider="kubernetesCRD")
    wait_until(lambda: served_by(gw.port, "stable.crd.test") == "a", what="IngressRoute")
    with it.Client(gw.port) as c:
        assert c.get("/", host="stable.crd.test").echo.header("X-Crd") == "on"
    load = Load(gw.port, ["stable.crd.test"])
    try:
        # A TraefikService weighted over both upstreams.
        kube.apply({"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
                    "metadata": {"name": "split", "namespace": "default"},
                    "spec": {"weighted": {"services": [{"name": "a", "port": 80, "weight": 1},
                                                       {"name": "b", "port": 80, "weight": 1}]}}})
        kube.apply(ingress_route("split", "Host(`split.crd.test`)",
                                 [{"name": "split", "kind": "TraefikService"}]))
        seen = set()

        def both():
            seen.add(served_by(gw.port, "split.crd.test"))
            return {"a", "b"} <= seen
        wait_until(both, what="weighted TraefikService")
        # A route whose Service is missing is reported; a middleware in another namespace is
        # refused (allowCrossNamespace false).
        mark = gw.log_size()
        kube.apply(ingress_route("nosvc", "Host(`nosvc.crd.test`)", [{"name": "nope", "port": 80}]))
        bad = ingress_route("cross", "Host(`cross.crd.test`)", [{"name": "a", "port": 80}])
        bad["spec"]["routes"][0]["middlewares"] = [{"name": "tag", "namespace": "other"}]
        kube.apply(bad)
        gw.wait_log(r"IngressRoute default/nosvc: service default/nope not found", after=mark)
        gw.wait_log(r"IngressRoute default/cross: .*allowCrossNamespace", after=mark)
        assert status_of(gw.port, "nosvc.crd.test") == 404
        assert status_of(gw.port, "cross.crd.test") == 404
        kube.delete("IngressRoute", "split")
        wait_until(lambda: status_of(gw.port, "split.crd.test") == 404, what="deleted route")
    finally:
        count, failures = load.stop()
    assert count > 0 and failures == [], failures[:5]


def crd(kind, name, spec, ns="default"):
    return {"apiVersion": "traefik.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def secret(name, data: dict, ns="default"):
    import base64
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "data": {k: base64.b64encode(Path(v).read_bytes()).decode() for k, v in data.items()}}


def test_crd_ingressroute_tcp_and_udp(env, kube):
    """IngressRouteTCP to a real TCP echo server, IngressRouteUDP to a real UDP echo server."""
    import socket

    from l4_peers import TcpBackend, UdpBackend, tcp_exchange
    tcp, udp = env.group.add(TcpBackend("t")), env.group.add(UdpBackend("u"))
    backends(kube, {"t": tcp, "u": udp})
    kube.apply(crd("IngressRouteTCP", "echo", {"entryPoints": ["tcpep"], "routes": [
        {"match": "HostSNI(`*`)", "services": [{"name": "t", "port": 80}]}]}))
    kube.apply(crd("IngressRouteUDP", "echo", {"entryPoints": ["udpep"], "routes": [
        {"services": [{"name": "u", "port": 80}]}]}))
    gw = env.gateway(entrypoints={"web": {}, "tcpep": {}, "udpep": {"_udp": True}},
                     static_extra={"providers": {"kubernetesCRD": {"endpoint": kube.url}}})
    wait_until(lambda: tcp_exchange(gw.ports["tcpep"], b"hello tcp") == b"hello tcp",
               what="IngressRouteTCP")
    assert tcp.connections and tcp.connections[-1]["data"] == b"hello tcp"

    def udp_answer():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            s.sendto(b"hello udp", ("127.0.0.1", gw.udp_ports["udpep"]))
            try:
                return s.recvfrom(65536)[0]
            except socket.timeout:
                return None
    assert wait_until(udp_answer, what="IngressRouteUDP")[0] == b"u:hello udp"
    # Deleting the TCP route closes the entrypoint to new connections' data.
    kube.delete("IngressRouteTCP", "echo")

    def tcp_gone():
        try:
            return tcp_exchange(gw.ports["tcpep"], b"x", timeout=2) != b"x"
        except OSError:
            return True
    wait_until(tcp_gone, what="IngressRouteTCP deleted")


def test_crd_tlsoption_and_tlsstore(env, kube, pki):
    """A TLSStore's default certificate comes from a Secret; a TLSOption's minVersion refuses
    the older protocol on the routes that use it, and only there."""
    import tls_it
    backends(kube, {"a": env.upstream("a")})
    kube.apply(secret("store-cert", {"tls.crt": pki.path("other.pem"),
                                     "tls.key": pki.path("other.key")}))
    kube.apply(crd("TLSStore", "default",
                   {"defaultCertificate": {"secretName": "store-cert"}}))
    kube.apply(crd("TLSOption", "modern", {"minVersion": "VersionTLS13"}))
    for name, host, options in (("strict", "strict.crd.test", {"name": "modern"}),
                                ("loose", "loose.crd.test", None)):
        route = ingress_route(name, f"Host(`{host}`)", [{"name": "a", "port": 80}],
                              tls={"options": options} if options else {})
        route["spec"]["entryPoints"] = ["websecure"]
        kube.apply(route)
    gw = env.gateway(entrypoints={"web": {}, "websecure": {}},
                     static_extra={"providers": {"kubernetesCRD": {"endpoint": kube.url}}})
    port = gw.ports["websecure"]
    # Every name gets the store's default certificate (no route has a certificate of its own).
    hs, _ = wait_until(lambda: (h := tls_it.s_client(port, "loose.crd.test")).ok and
                       h.subject_cn == "other.test" and h, what="TLSStore default certificate")
    # TLS 1.2: accepted on the loose route, refused on the strict one (minVersion TLS 1.3).
    wait_until(lambda: not tls_it.s_client(port, "strict.crd.test", "-tls1_2").ok,
               what="TLSOption applied")
    loose12 = tls_it.s_client(port, "loose.crd.test", "-tls1_2")
    assert loose12.ok and loose12.protocol == "TLSv1.2", loose12
    strict13 = tls_it.s_client(port, "strict.crd.test", "-tls1_3")
    assert strict13.ok and strict13.protocol == "TLSv1.3", strict13
    # The TLSOption named default (in the default namespace) applies to every other route.
    kube.apply(crd("TLSOption", "default", {"minVersion": "VersionTLS13"}))
    wait_until(lambda: not tls_it.s_client(port, "loose.crd.test", "-tls1_2").ok,
               what="default TLSOption")


def test_crd_servers_transport(env, kube, pki):
    """A ServersTransport's rootCAsSecrets (a CA from a Secret) verifies a TLS upstream; its
    insecureSkipVerify accepts an upstream no known CA signed; without either, 502."""
    import upstream_it as ut
    h1 = ("--alpn", "http/1.1")
    good = ut.upstream_peer(env, "good", "--tls", pki.path("server.pem"), pki.path("server.key"), *h1)
    rogue = ut.upstream_peer(env, "rogue", "--tls", pki.path("rogue.pem"), pki.path("rogue.key"),
                             *h1)
    # One Service per route: the generated service of a Service and port is shared by every route
    # using them (Traefik's naming), so two transports on one Service would be one service.
    for name, peer in (("good", good), ("good2", good), ("rogue", rogue), ("rogue2", rogue)):
        kube.apply(service(name, port=443, port_name="https"))
        kube.apply(slice_for(name, peer, port_name="https"))
    kube.apply(secret("upstream-ca", {"tls.ca": pki.path("ca.pem")}))
    kube.apply(crd("ServersTransport", "trusted", {"rootCAsSecrets": ["upstream-ca"]}))
    kube.apply(crd("ServersTransport", "insecure", {"insecureSkipVerify": True}))
    for route, svc, transport in (("trusted", "good", "trusted"), ("insecure", "rogue", "insecure"),
                                  ("refused", "rogue2", "trusted"), ("system", "good2", None)):
        s = {"name": svc, "port": 443}
        if transport:
            s["serversTransport"] = transport
        kube.apply(ingress_route(route, f"Host(`{route}.crd.test`)", [s]))
    gw = k8s_gateway(env, kube, provider="kubernetesCRD")

    def peer_name(host):  # the python peer's echo: JSON with its --name
        with it.Client(gw.port, timeout=5) as c:
            r = c.get("/", host=host)
            return json.loads(r.body)["name"] if r.status == 200 else r.status
    wait_until(lambda: peer_name("trusted.crd.test") == "good", what="rootCAsSecrets")
    assert peer_name("insecure.crd.test") == "rogue"
    # Another CA through the trusted transport, and our CA without a transport (system roots).
    assert status_of(gw.port, "refused.crd.test") == 502
    assert status_of(gw.port, "system.crd.test") == 502
