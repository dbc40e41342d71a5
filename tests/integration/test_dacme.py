"""Distributed ACME (certificatesResolvers.<name>.distributedAcme, docs/acme.md#distributed-acme):
three real gateway processes share one store, on etcd and on Redis (every test runs on both).

Peers: pebble (the CA) with pebble-challtestsrv (its DNS), etcd 3.4 or redis-server, openssl
s_client. Pebble validates at fixed ports; a small TCP relay there forwards each validation
connection to an instance that does NOT hold the set's cluster lock (read from the store at
connection time), so the challenge can only succeed through the shared challenge material.
Orders are counted in pebble's log.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import acme_rig as rig
import kv_rig
import tls_it
import turnpike_it as it
from acme_rig import dns, pebble  # noqa: F401

pytestmark = pytest.mark.skipif(
    not all(Path(p).exists() for p in ("/usr/bin/pebble", "/usr/bin/pebble-challtestsrv")),
    reason="pebble is not installed (scripts/install-deps.sh test)")

PREFIX = "tp-acme"


@pytest.fixture(params=["etcd", "redis"])
def store(request, tmp_path):
    if not kv_rig.available(request.param):
        pytest.skip(f"{request.param} is not installed (scripts/install-deps.sh test)")
    s = kv_rig.start_store(request.param, tmp_path)
    yield s
    s.kill()


@pytest.fixture(params=["etcd-tls", "redis-tls", "etcd-auth", "redis-auth"])
def secured_store(request, tmp_path):
    """A store that wants credentials: TLS only with client certificates, or authentication
    (etcd's root user; a Redis ACL user, the default user disabled)."""
    backend, how = request.param.split("-")
    if not kv_rig.available(backend):
        pytest.skip(f"{backend} is not installed (scripts/install-deps.sh test)")
    s = kv_rig.start_store(backend, tmp_path, tls=how == "tls")
    if how == "auth" and backend == "redis":
        # The least a resolver needs (docs/acme.md): its keys, the literal keyspace channel pattern
        # of its watch (PSUBSCRIBE patterns are matched as strings), and these commands.
        s.enable_auth("s3cret-pw", rules=(f"~{PREFIX}/*", f"&__keyspace@0__:{PREFIX}/le/*",
                                          "+@read", "+@write", "+@scripting", "+@pubsub",
                                          "+ping", "+config|get", "+config|set"))
    elif how == "auth":
        s.enable_auth("s3cret-pw")
    yield s
    s.kill()


class Relay:
    """Listens on `port` (where pebble validates) and pipes each connection to the `target` port
    of a gateway other than the lock holder of `lock_key` at that moment."""

    def __init__(self, port: int, store, lock_key: str, gateways: list, target: str):
        self.store, self.lock_key, self.gateways, self.target = store, lock_key, gateways, target
        self.routed: list[tuple[int | None, int]] = []  # (holder pid, pid the CA reached)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def holder_pid(self) -> int | None:
        value = self.store.get(self.lock_key)  # "<host>/<pid>/<random>/<random>"
        try:
            return int(value.split("/")[1]) if value else None
        except (IndexError, ValueError):
            return None

    def _accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            holder = self.holder_pid()
            alive = [g for g in self.gateways if g.proc and g.proc.poll() is None]
            pick = next((g for g in alive if g.proc.pid != holder), alive[0])
            self.routed.append((holder, pick.proc.pid))
            try:
                up = socket.create_connection(("127.0.0.1", pick.ports[self.target]), timeout=5)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def close(self):
        self.stopped = True
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the socket
        # listening until that call returns.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def cluster(env, pebble, store, routers: dict, challenge: str = "http", n: int = 3,  # noqa: F811
            storage_extra: dict | None = None, resolver_extra: dict | None = None) -> list:
    """`n` gateways with the same distributedAcme resolver `le`; each has its own `web` and
    `websecure` entrypoints (pebble reaches them only through a Relay)."""
    cfg = {"email": "ops@example.com", "caServer": pebble.directory,
           "caCertificates": [str(pebble.minica)], "keyType": "EC256",
           "storage": store.storage(PREFIX, lockTTL="3s", **(storage_extra or {}))}
    if challenge == "http":
        cfg["httpChallenge"] = {"entryPoint": "web"}
    else:
        cfg["tlsChallenge"] = {}
    cfg.update(resolver_extra or {})
    gws = []
    for _ in range(n):
        gw = env.gateway(start=False, entrypoints={"web": {}, "websecure": {}},
                         dynamic=dynamic(routers),
                         static_extra={"certificatesResolvers": {"le": {"distributedAcme": cfg}}})
        gws.append(gw)
    for gw in gws:
        gw.start()
    return gws


def dynamic(routers: dict) -> dict:
    return {"http": {"routers": routers,
                     "services": {"s": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}}}}


def relay_for(pebble, store, gws, domains: str, challenge: str) -> Relay:  # noqa: F811
    port, target = ((pebble.http_port, "web") if challenge == "http" else
                    (pebble.tls_port, "websecure"))
    return Relay(port, store, f"{PREFIX}/le/locks/order/{domains}", gws, target)


def stored_serial(store, main: str) -> str:
    entry = json.loads(store.get(f"{PREFIX}/le/certificates/{main}"))
    return rig.serial_hex(rig.cert_pem(entry))


def wait_stored(store, main: str, timeout: float = 60.0) -> str:
    return rig.wait_for(lambda: store.get(f"{PREFIX}/le/certificates/{main}") and
                        stored_serial(store, main), timeout, f"certificate for {main} in {store.name}",
                        interval=0.05)


def assert_all_serve(gws, name: str, root: Path, serial: str, timeout: float = 10.0):
    for gw in gws:
        hs = rig.wait_served(gw.ports["websecure"], name, root, timeout=timeout,
                             predicate=lambda h: rig.verified(h) and h.serial == serial)
        assert hs.subject_cn == name, hs


def issue(env, pebble, store, name: str, tmp_path: Path, n: int = 3):  # noqa: F811
    """`n` gateways with a router for `name` (HTTP-01 through a Relay) once all serve its stored
    certificate: (gateways, pebble's root file, the certificate's serial)."""
    gws = []
    relay = relay_for(pebble, store, gws, name, "http")
    try:
        gws.extend(cluster(env, pebble, store, {"app": rig.tls_router(name)}, n=n))
        root = rig.pebble_root(pebble, tmp_path)
        serial = wait_stored(store, name)
        assert_all_serve(gws, name, root, serial)
    finally:
        relay.close()
    return gws, root, serial


@pytest.mark.parametrize("challenge", ["http", "tls"])
def test_one_order_validated_by_a_non_holder_served_by_all(env, pebble, store, tmp_path,  # noqa: F811
                                                           challenge):
    name = f"{challenge}-{store.name}.app.test"
    before = pebble.orders()
    gws = []
    relay = relay_for(pebble, store, gws, name, challenge)
    try:
        gws.extend(cluster(env, pebble, store, {"app": rig.tls_router(name)}, challenge))
        root = rig.pebble_root(pebble, tmp_path)
        t0 = time.monotonic()
        serial = wait_stored(store, name)
        assert_all_serve(gws, name, root, serial)
        it.MEASUREMENTS.append(f"distributed ACME ({store.name}, {challenge}-01): router on 3 "
                               f"instances -> all serve: {time.monotonic() - t0:.2f} s")
    finally:
        relay.close()
    assert pebble.orders() - before == 1
    # The CA reached an instance that did not hold the lock, and the challenge passed there.
    pids = {g.proc.pid for g in gws}
    assert relay.routed, "pebble never connected"
    assert all(holder in pids and reached != holder for holder, reached in relay.routed), relay.routed
    # One instance ordered; the others waited for it.
    obtained = [g for g in gws if f"certificate obtained for {name}" in g.log()]
    assert len(obtained) == 1
    # One ACME account for the cluster.
    assert store.get(f"{PREFIX}/le/account")
    assert sum("ACME account" in g.log() for g in gws) == 1


def test_kill_9_of_the_holder_mid_order(env, pebble, store, tmp_path):  # noqa: F811
    """The holder is killed while it waits (httpChallenge.delay) after storing the order: another
    instance takes the lock once it expires, resumes that order, and all survivors serve it."""
    name = f"kill-{store.name}.app.test"
    before = pebble.orders()
    gws = []
    relay = relay_for(pebble, store, gws, name, "http")
    try:
        gws.extend(cluster(env, pebble, store, {"app": rig.tls_router(name)},
                           resolver_extra={"httpChallenge": {"entryPoint": "web", "delay": "4s"}}))
        order_key = f"{PREFIX}/le/orders/{name}"
        rig.wait_for(lambda: store.get(order_key), 30, "the order stored by the holder")
        holder_pid = relay.holder_pid()
        holder = next(g for g in gws if g.proc.pid == holder_pid)
        holder.kill()
        survivors = [g for g in gws if g is not holder]
        root = rig.pebble_root(pebble, tmp_path)
        serial = wait_stored(store, name, timeout=60)
        assert_all_serve(survivors, name, root, serial)
    finally:
        relay.close()
    assert pebble.orders() - before <= 2  # the order the holder created, at most one retry
    assert any("is resumed here" in g.log() or "resuming order" in g.log() for g in survivors)
    assert len(store.keys(f"{PREFIX}/le/certificates/")) >= 1
    assert store.get(f"{PREFIX}/le/orders/{name}") is None


def test_store_down_keeps_serving_and_issuance_resumes(env, pebble, store, tmp_path):  # noqa: F811
    name = f"down-{store.name}.app.test"
    gws, root, serial = issue(env, pebble, store, name, tmp_path)
    store.kill()
    # Every handshake on the stored certificate keeps working while the store is down.
    for _ in range(3):
        for gw in gws:
            hs = rig.handshake(gw.ports["websecure"], name, root)
            assert rig.verified(hs) and hs.serial == serial, hs
    for gw in gws:
        gw.wait_log(r"is unreachable: serving the certificates in memory", timeout=30)
    # A new router while the store is down: no order without the lock.
    before = pebble.orders()
    later = f"later-{store.name}.app.test"
    routers = {"app": rig.tls_router(name), "later": rig.tls_router(later)}
    for gw in gws:
        gw.write_dynamic(dynamic(routers))
    for gw in gws:
        gw.wait_log(r"no order without the cluster lock", timeout=30)
    assert pebble.orders() == before
    store.start()
    relay = relay_for(pebble, store, gws, later, "http")
    try:
        serial2 = wait_stored(store, later, timeout=60)
        assert_all_serve(gws, later, root, serial2, timeout=20)
    finally:
        relay.close()
    assert pebble.orders() - before == 1
    for gw in gws:
        hs = rig.handshake(gw.ports["websecure"], name, root)
        assert rig.verified(hs) and hs.serial == serial, hs


def test_corrupt_value_in_the_store_is_reported_and_skipped(env, pebble, store, tmp_path):  # noqa: F811
    store.put(f"{PREFIX}/le/certificates/bad.app.test", "not json at all")
    store.put(f"{PREFIX}/le/account", json.dumps({"Email": 5}))
    gws = cluster(env, pebble, store, {}, n=1)
    gws[0].wait_log(r"certificates/bad.app.test: ignoring a value that is not Turnpike's")
    gws[0].wait_log(r"account: ignoring a value that is not Turnpike's")
    hs = tls_it.s_client(gws[0].ports["websecure"], "bad.app.test")
    assert hs.ok and hs.subject_cn == "TRAEFIK DEFAULT CERT", hs


def test_secured_store_one_order_served_by_all(env, pebble, secured_store, tmp_path):  # noqa: F811
    """The core test on a store that wants credentials; `turnpike certs` reads the same store."""
    store = secured_store
    name = f"sec-{store.name}-{'tls' if store.pki else 'auth'}.app.test"
    before = pebble.orders()
    gws, root, serial = issue(env, pebble, store, name, tmp_path)
    assert pebble.orders() - before == 1
    report = rig.certs_report(gws[0])
    assert re.search(rf"^le +{re.escape(name)} +\S+Z +\S+Z +valid$", report, re.M), report


def test_secured_store_refuses_wrong_credentials(env, pebble, secured_store, tmp_path):  # noqa: F811
    """Another CA (TLS) or a wrong password: the instance logs a clear error naming the store,
    serves nothing from it and orders nothing; what the cluster stored and serves is untouched."""
    store = secured_store
    name = f"bad-{store.name}-{'tls' if store.pki else 'auth'}.app.test"
    gws, root, serial = issue(env, pebble, store, name, tmp_path, n=1)
    before = pebble.orders()
    if store.pki:
        other = kv_rig.Pki(tmp_path / "other-pki", "other")
        wrong = {"tls": {**store.pki.storage_tls(), "ca": str(other.ca.crt)}}
        said = r"certificate verify failed|SSL certificate problem"
    else:
        wrong = {"password": "not-the-password"}
        said = r"WRONGPASS|authentication failed"
    bad = cluster(env, pebble, store, {"app": rig.tls_router(name)}, n=1, storage_extra=wrong)[0]
    described = re.escape(store.name + " " + store.endpoint)
    bad.wait_log(rf"resolver le: {described}\S*: .*({said}).*: starting without stored "
                 r"certificates until the store is reachable", timeout=30)
    hs = tls_it.s_client(bad.ports["websecure"], name)
    assert hs.ok and hs.subject_cn == "TRAEFIK DEFAULT CERT", hs
    r = subprocess.run([str(bad.binary), "certs", f"--configFile={bad.static_path}"],
                       capture_output=True, text=True, cwd=bad.workdir, timeout=30)
    assert r.returncode == 1 and re.search(rf"^le +storage: {described}.*({said})", r.stdout,
                                           re.M), r.stdout + r.stderr
    # The cluster is untouched: same certificate stored and served, no order.
    assert stored_serial(store, name) == serial
    assert_all_serve(gws, name, root, serial)
    assert pebble.orders() == before
