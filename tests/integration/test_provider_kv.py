"""The KV providers (providers.etcd, providers.redis, providers.zooKeeper) against real stores:
etcd 3.4, redis-server 7 and ZooKeeper 3.8 (Debian's zookeeperd), written with their own clients
(etcdctl, redis-cli, kazoo). Traefik's key layout (`traefik/http/routers/<r>/rule`, indexed
lists) becomes routes; a router and service added, changed and removed at the store appear,
change and disappear while an unchanged route serves without a failed request; garbage in a key
disables that object only and the log names the key; the store going away leaves routes
serving and its return is picked up; etcd and Redis authentication, etcd over TLS with a client
certificate, ZooKeeper digest credentials; a change to one router keeps the other services'
upstream connections and health state."""

from __future__ import annotations

import time

import pytest

import kv_rig
import turnpike_it as it
from provider_it import Load, served_by, status_of, wait_until

BACKENDS = ["etcd", "redis", "zookeeper"]
OPTION = {"etcd": "etcd", "redis": "redis", "zookeeper": "zooKeeper"}


def start_or_skip(backend: str, workdir, **kw):
    if not kv_rig.available(backend):
        pytest.skip(f"{backend} is not installed (scripts/install-deps.sh test)")
    if kw:
        return kv_rig.Redis(workdir, **kw)
    return kv_rig.start_store(backend, workdir)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    s = start_or_skip(request.param, tmp_path)
    yield s
    s.kill()


def kv_gateway(env, store, **opts):
    cfg = {"endpoints": [store.endpoint], **opts}
    return env.gateway(static_extra={"providers": {OPTION[store.name]: cfg}})


def put_route(store, router: str, host: str, upstream, root: str = "traefik"):
    """A router and its service, the keys a Traefik user writes."""
    store.put(f"{root}/http/services/{router}/loadBalancer/servers/0/url", upstream.url)
    store.put(f"{root}/http/routers/{router}/service", router)
    store.put(f"{root}/http/routers/{router}/entryPoints/0", "web")
    store.put(f"{root}/http/routers/{router}/rule", f"Host(`{host}`)")


def test_add_change_remove_under_load(env, store):
    ups = {n: env.upstream(n) for n in ("stable", "a", "b")}
    put_route(store, "stable", "stable.kv.test", ups["stable"])
    gw = kv_gateway(env, store)
    wait_until(lambda: served_by(gw.port, "stable.kv.test") == "stable", timeout=20,
               what="route from the store at start")
    load = Load(gw.port, ["stable.kv.test"])
    try:
        # add: the rule is written last, so the router is complete when it appears
        t0 = time.monotonic()
        put_route(store, "app", "app.kv.test", ups["a"])
        _, add_latency = wait_until(lambda: served_by(gw.port, "app.kv.test") == "a",
                                    timeout=10, what="added route")
        add_latency = time.monotonic() - t0
        # change: the service's server and the router's rule
        store.put("traefik/http/services/app/loadBalancer/servers/0/url", ups["b"].url)
        wait_until(lambda: served_by(gw.port, "app.kv.test") == "b", timeout=10,
                   what="changed server")
        store.put("traefik/http/routers/app/rule", "Host(`app2.kv.test`)")
        wait_until(lambda: served_by(gw.port, "app2.kv.test") == "b", timeout=10,
                   what="changed rule")
        assert status_of(gw.port, "app.kv.test") == 404
        # remove: the router's keys go, then the service's
        t1 = time.monotonic()
        for k in ("rule", "service", "entryPoints/0"):
            store.erase(f"traefik/http/routers/app/{k}")
        store.erase("traefik/http/services/app/loadBalancer/servers/0/url")
        wait_until(lambda: status_of(gw.port, "app2.kv.test") == 404, timeout=10,
                   what="removed route")
        remove_latency = time.monotonic() - t1
    finally:
        count, failures = load.stop()
    it.MEASUREMENTS.append(
        f"{store.name} provider: 4 writes -> route serving {add_latency * 1000:.0f} ms, "
        f"4 deletes -> route gone {remove_latency * 1000:.0f} ms (client processes included); "
        f"load on an unchanged route: {count} requests, {len(failures)} failures")
    assert count > 0
    assert failures == [], failures[:5]
    assert served_by(gw.port, "stable.kv.test") == "stable"


def test_garbage_in_a_key_disables_that_object_only(env, store):
    ups = {n: env.upstream(n) for n in ("good", "later")}
    put_route(store, "good", "good.kv.test", ups["good"])
    put_route(store, "bad", "bad.kv.test", ups["good"])
    store.put("traefik/http/routers/bad/priority", "\x7fnot-a-number")
    store.put("traefik/http/middlewares/broken/noSuchMiddleware/x", "1")
    gw = kv_gateway(env, store)
    wait_until(lambda: served_by(gw.port, "good.kv.test") == "good", timeout=20,
               what="the good router")
    gw.wait_log(r"traefik/http/routers/bad/priority: .*bad@" + store.name + " disabled")
    gw.wait_log(r"traefik/http/middlewares/broken.*broken@" + store.name + " disabled")
    assert status_of(gw.port, "bad.kv.test") == 404
    # The rest keeps following the store: a new route, then the bad key fixed.
    put_route(store, "later", "later.kv.test", ups["later"])
    wait_until(lambda: served_by(gw.port, "later.kv.test") == "later", timeout=10,
               what="a route added after the garbage")
    store.put("traefik/http/routers/bad/priority", "5")
    wait_until(lambda: served_by(gw.port, "bad.kv.test") == "good", timeout=10,
               what="the fixed router")


def test_store_away_keeps_routes_and_resumes(env, store):
    ups = {n: env.upstream(n) for n in ("keep", "later")}
    put_route(store, "keep", "keep.kv.test", ups["keep"])
    gw = kv_gateway(env, store)
    wait_until(lambda: served_by(gw.port, "keep.kv.test") == "keep", timeout=20,
               what="route before the store stops")
    mark = gw.log_size()
    store.stop()
    gw.wait_log(r"providers\." + store.name + r": .*routes stay as they are", after=mark,
                timeout=30)
    for _ in range(20):
        assert served_by(gw.port, "keep.kv.test") == "keep"
    store.start()
    put_route(store, "later", "later.kv.test", ups["later"])
    wait_until(lambda: served_by(gw.port, "later.kv.test") == "later", timeout=30,
               what="route after the store came back")
    assert served_by(gw.port, "keep.kv.test") == "keep"
    # And changes are followed again (not only the re-list).
    store.put("traefik/http/routers/later/rule", "Host(`later2.kv.test`)")
    wait_until(lambda: served_by(gw.port, "later2.kv.test") == "later", timeout=10,
               what="a change after the store came back")


def test_root_key(env, store):
    up = env.upstream("a")
    put_route(store, "r", "root.kv.test", up, root="gw1")
    put_route(store, "r", "other.kv.test", up, root="gw2")
    gw = kv_gateway(env, store, rootKey="gw1")
    wait_until(lambda: served_by(gw.port, "root.kv.test") == "a", timeout=20,
               what="route under rootKey")
    assert status_of(gw.port, "other.kv.test") == 404


def test_etcd_authentication(env, tmp_path):
    etcd = start_or_skip("etcd", tmp_path)
    try:
        up = env.upstream("a")
        put_route(etcd, "r", "auth.kv.test", up)
        etcd.enable_auth("rootpw", reader=("gateway", "s3cret"))
        bad = kv_gateway(env, etcd, username="gateway", password="wrong")
        good = kv_gateway(env, etcd, username="gateway", password="s3cret")
        wait_until(lambda: served_by(good.port, "auth.kv.test") == "a", timeout=20,
                   what="route read with etcd credentials")
        bad.wait_log(r"providers\.etcd: .*authentication as \"gateway\" failed", timeout=20)
        assert status_of(bad.port, "auth.kv.test") == 404
        etcd.put("traefik/http/routers/r/rule", "Host(`auth2.kv.test`)")
        wait_until(lambda: served_by(good.port, "auth2.kv.test") == "a", timeout=10,
                   what="a change followed with credentials")
    finally:
        etcd.kill()


def test_redis_requirepass(env, tmp_path):
    redis = start_or_skip("redis", tmp_path, password="s3cret")
    try:
        up = env.upstream("a")
        put_route(redis, "r", "pass.kv.test", up)
        gw = kv_gateway(env, redis, password="s3cret")
        wait_until(lambda: served_by(gw.port, "pass.kv.test") == "a", timeout=20,
                   what="route read with requirepass")
        redis.put("traefik/http/routers/r/rule", "Host(`pass2.kv.test`)")
        wait_until(lambda: served_by(gw.port, "pass2.kv.test") == "a", timeout=10,
                   what="a change followed through keyspace notifications")
        assert "falling back to listing" not in gw.log()
    finally:
        redis.kill()


def test_redis_acl_user_without_notifications_falls_back_to_polling(env, tmp_path):
    """An ACL user that may not CONFIG SET, on a server whose keyspace notifications are off:
    the provider says so and lists every 2 s instead."""
    redis = start_or_skip("redis", tmp_path, extra_args=["--notify-keyspace-events", ""])
    try:
        redis.command("ACL", "SETUSER", "gw", "on", ">s3cret", "~*", "&*", "+@all",
                      "-config|set")
        up = env.upstream("a")
        put_route(redis, "r", "acl.kv.test", up)
        gw = kv_gateway(env, redis, username="gw", password="s3cret")
        wait_until(lambda: served_by(gw.port, "acl.kv.test") == "a", timeout=20,
                   what="route read as an ACL user")
        gw.wait_log(r"providers\.redis: .*keyspace notifications are off.*falling back to "
                    r"listing every 2 s", timeout=10)
        redis.put("traefik/http/routers/r/rule", "Host(`acl2.kv.test`)")
        wait_until(lambda: served_by(gw.port, "acl2.kv.test") == "a", timeout=10,
                   what="a change picked up by polling")
    finally:
        redis.kill()


def test_unchanged_service_keeps_its_connections_and_health(env, tmp_path):
    """Issue 6: only what changed is rebuilt. While another router is changed 15 times at the
    store, a keep-alive client on an unchanged route keeps using the same upstream connection
    (the upstream accepts no new one), and a server its health check found down stays down (no
    request reaches it after a change, as it would if its state started healthy again)."""
    etcd = start_or_skip("etcd", tmp_path)
    try:
        ups = {n: env.upstream(n) for n in ("stable", "live", "moving")}
        put_route(etcd, "stable", "stable.kv.test", ups["stable"])
        # "pair": a live server and a dead one; the first check (at once) finds the dead one down
        # and the next comes only after a minute.
        etcd.put("traefik/http/services/pair/loadBalancer/servers/0/url", ups["live"].url)
        etcd.put("traefik/http/services/pair/loadBalancer/servers/1/url", it.dead_url())
        etcd.put("traefik/http/services/pair/loadBalancer/healthCheck/path", "/health")
        etcd.put("traefik/http/services/pair/loadBalancer/healthCheck/interval", "60s")
        etcd.put("traefik/http/routers/pair/service", "pair")
        etcd.put("traefik/http/routers/pair/rule", "Host(`pair.kv.test`)")
        put_route(etcd, "moving", "moving0.kv.test", ups["moving"])
        gw = kv_gateway(env, etcd)
        wait_until(lambda: served_by(gw.port, "moving0.kv.test") == "moving", timeout=20,
                   what="routes from the store")
        gw.wait_log(r"service pair@etcd: server .* is unhealthy", timeout=10)

        def pair_all_live(n=6):
            return all(served_by(gw.port, "pair.kv.test") == "live" for _ in range(n))

        assert pair_all_live()
        client = it.Client(gw.port, timeout=5)
        for _ in range(5):
            assert client.get("/", host="stable.kv.test").status == 200
        connections = ups["stable"].stats()["connections"]
        for j in range(1, 16):
            etcd.put("traefik/http/routers/moving/rule", f"Host(`moving{j}.kv.test`)")
            wait_until(lambda: served_by(gw.port, f"moving{j}.kv.test") == "moving", timeout=10,
                       what=f"change {j}")
            for _ in range(3):
                r = client.get("/", host="stable.kv.test")
                assert r.status == 200 and r.echo.name == "stable"
            assert pair_all_live(2), f"the down server was used after change {j}"
        client.close()
        # One more: the /_stats request's own connection.
        assert ups["stable"].stats()["connections"] == connections + 1
        assert ups["live"].stats()["connections"] >= 1
        gw.wait_log(r"configuration \d+: .*routers 1 built, \d+ reused; services 0 built")
    finally:
        etcd.kill()


def secured_access(good, refused, host: str, set_rule, refused_log: str):
    """`good` (right credentials) serves router r at `host`.kv.test, upstream "a", and follows
    set_rule() to `host`2.kv.test; `refused` logs `refused_log` and serves neither."""
    wait_until(lambda: served_by(good.port, f"{host}.kv.test") == "a", timeout=30,
               what="route read with credentials")
    set_rule(f"Host(`{host}2.kv.test`)")
    wait_until(lambda: served_by(good.port, f"{host}2.kv.test") == "a", timeout=10,
               what="a change followed with credentials")
    refused.wait_log(refused_log, timeout=20)
    for h in (host, host + "2"):
        assert status_of(refused.port, f"{h}.kv.test") == 404


@pytest.mark.parametrize("backend,refused_log", [
    ("etcd", r"providers\.etcd: .*unavailable: .*bad certificate"),
    ("redis", r"providers\.redis: .*certificate required"),
])
def test_store_over_tls(env, tmp_path, backend, refused_log):
    """providers.etcd.tls and providers.redis.tls: a store that only accepts TLS clients with a
    certificate of its CA. The gateway with the CA and a client certificate reads the keys and
    follows them (etcd's watch, Redis keyspace notifications, over TLS); one without a client
    certificate is refused and serves nothing."""
    if not kv_rig.available(backend):
        pytest.skip(f"{backend} is not installed (scripts/install-deps.sh test)")
    store = (kv_rig.Etcd if backend == "etcd" else kv_rig.Redis)(tmp_path, tls=True)
    try:
        up = env.upstream("a")
        put_route(store, "r", "tls.kv.test", up)
        good = kv_gateway(env, store, tls=store.pki.storage_tls())
        no_cert = kv_gateway(env, store, tls={"ca": str(store.pki.ca.crt)})
        secured_access(good, no_cert, "tls",
                       lambda rule: store.put("traefik/http/routers/r/rule", rule), refused_log)
    finally:
        store.kill()


def test_zookeeper_digest_auth(env, tmp_path):
    """providers.zooKeeper username/password: znodes readable only with ZooKeeper digest
    credentials. The gateway with them serves the route; one without is refused."""
    zk = start_or_skip("zookeeper", tmp_path)
    try:
        from kazoo.client import KazooClient
        from kazoo.security import make_digest_acl
        up = env.upstream("a")
        acl = [make_digest_acl("gw", "s3cret", all=True)]
        owner = KazooClient(hosts=zk.endpoint, timeout=10, auth_data=[("digest", "gw:s3cret")])
        owner.start(timeout=20)
        try:
            for key, value in (("traefik/http/services/r/loadBalancer/servers/0/url", up.url),
                               ("traefik/http/routers/r/service", "r"),
                               ("traefik/http/routers/r/rule", "Host(`zk.kv.test`)")):
                owner.create("/" + key, value.encode(), acl=acl, makepath=True)
            assert owner.get_acls("/traefik")[0] == acl
            good = kv_gateway(env, zk, username="gw", password="s3cret")
            anonymous = kv_gateway(env, zk)
            secured_access(good, anonymous, "zk",
                           lambda rule: owner.set("/traefik/http/routers/r/rule", rule.encode()),
                           r"providers\.zookeeper: .*not authenticated")
        finally:
            owner.stop()
    finally:
        zk.kill()
