"""The docker provider against real engines, dockerd and `podman system service`, running real
busybox httpd containers on the host network: routes appear when a container starts, change
when it is replaced, and disappear as soon as it dies; requests to other containers' routes do
not fail meanwhile; bad labels disable only what they concern and name the container; the
engine going away leaves the routes serving, and its return is picked up."""

from __future__ import annotations

import time

import pytest

import container_engines as ce
import turnpike_it as it
from provider_it import Load, served_by, status_of, wait_until

ENGINES = ["docker", "podman"]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request, tmp_path_factory):
    why = ce.available(request.param)
    if why:
        pytest.skip(why)
    e = ce.Engine(request.param, tmp_path_factory.mktemp(f"engine-{request.param}"))
    yield e
    e.close()


@pytest.fixture
def containers(engine):
    names = []

    def run(name, port, labels, text=None):
        names.append(name)
        return engine.run(name, port, labels, text)

    yield run
    for n in names:
        engine.remove(n)


def docker_gateway(env, engine, **docker_opts):
    opts = {"endpoint": f"unix://{engine.sock}", "exposedByDefault": False, **docker_opts}
    return env.gateway(static_extra={"providers": {"docker": opts}})


def labels(router: str, host: str, port: int, **extra) -> dict:
    base = {"traefik.enable": "true",
            f"traefik.http.routers.{router}.rule": f"Host(`{host}`)",
            f"traefik.http.services.{router}.loadbalancer.server.port": str(port)}
    base.update(extra)
    return base


def test_containers_add_change_remove_under_load(env, engine, containers):
    gw = docker_gateway(env, engine)
    p_stable, p1, p2 = it.free_port(), it.free_port(), it.free_port()
    containers("stable", p_stable, labels("stable", "stable.docker.test", p_stable))
    wait_until(lambda: served_by(gw.port, "stable.docker.test") == "stable", timeout=20,
               what="stable container route")
    load = Load(gw.port, ["stable.docker.test"])
    try:
        # add
        t0 = time.monotonic()
        containers("app-v1", p1, labels("app", "app.docker.test", p1))
        _, add_latency = wait_until(lambda: served_by(gw.port, "app.docker.test") == "app-v1",
                                    timeout=20, what="added container route")
        # change: a new version of the app replaces the old container
        containers("app-v2", p2, labels("app", "app.docker.test", p2))
        engine.kill("app-v1")
        wait_until(lambda: served_by(gw.port, "app.docker.test") == "app-v2", timeout=20,
                   what="changed route")
        # remove: the route goes as soon as the container dies
        t_kill = time.monotonic()
        engine.kill("app-v2")
        _, remove_latency = wait_until(lambda: status_of(gw.port, "app.docker.test") == 404,
                                       timeout=10, what="removed route")
    finally:
        count, failures = load.stop()
    it.MEASUREMENTS.append(
        f"docker provider ({engine.kind}): container start -> route serving "
        f"{add_latency * 1000:.0f} ms (includes container start), kill -> route gone "
        f"{remove_latency * 1000:.0f} ms; load on an unchanged route: {count} requests, "
        f"{len(failures)} failures")
    assert count > 0
    assert failures == [], failures[:5]
    assert time.monotonic() - t0 < 60


def test_auto_wiring_default_rule_and_constraints(env, engine, containers):
    gw = docker_gateway(env, engine, defaultRule="Host(`{{ normalize .Name }}.auto.test`)",
                        constraints="Label(`team`, `blue`)")
    p1, p2 = it.free_port(), it.free_port()
    # No router label: a router named after the container with defaultRule, its only service.
    containers("my_blue", p1, {"traefik.enable": "true", "team": "blue",
                               "traefik.http.services.x.loadbalancer.server.port": str(p1)})
    containers("my_red", p2, {"traefik.enable": "true", "team": "red",
                              "traefik.http.services.y.loadbalancer.server.port": str(p2)})
    wait_until(lambda: served_by(gw.port, "my-blue.auto.test") == "my_blue", timeout=20,
               what="auto-wired route")
    assert status_of(gw.port, "my-red.auto.test") == 404  # constraints exclude it


def test_bad_labels_disable_only_their_objects(env, engine, containers):
    gw = docker_gateway(env, engine)
    p_good, p_bad, p_typo = it.free_port(), it.free_port(), it.free_port()
    mark = gw.log_size()
    containers("good", p_good, labels("good", "good.docker.test", p_good))
    containers("badrule", p_bad, labels("badrule", "x", p_bad, **{
        "traefik.http.routers.badrule.rule": "Host(`unterminated"}))
    containers("typo", p_typo, labels("typo", "typo.docker.test", p_typo, **{
        "traefik.http.routers.typo.priorty": "3",
        "traefik.http.routers.typo2.rule": "Host(`typo2.docker.test`)",
        "traefik.http.routers.typo2.service": "typo"}))
    wait_until(lambda: served_by(gw.port, "good.docker.test") == "good", timeout=20,
               what="good container route")
    wait_until(lambda: served_by(gw.port, "typo2.docker.test") == "typo", timeout=20,
               what="the typo container's valid router")
    assert status_of(gw.port, "typo.docker.test") == 404
    gw.wait_log(r"container typo: .*priorty.*typo@docker disabled", after=mark)
    gw.wait_log(r"badrule@docker", after=mark)


def test_engine_away_keeps_routes_and_reconnects(env, engine, containers):
    gw = docker_gateway(env, engine)
    p1, p2 = it.free_port(), it.free_port()
    containers("keep", p1, labels("keep", "keep.docker.test", p1))
    wait_until(lambda: served_by(gw.port, "keep.docker.test") == "keep", timeout=20,
               what="route before the engine stops")
    mark = gw.log_size()
    engine.stop_daemon()
    gw.wait_log(r"providers\.docker: .*routes stay as they are, retrying", after=mark, timeout=20)
    for _ in range(20):
        assert served_by(gw.port, "keep.docker.test") == "keep"
    engine.start()
    containers("later", p2, labels("later", "later.docker.test", p2))
    wait_until(lambda: served_by(gw.port, "later.docker.test") == "later", timeout=30,
               what="route after the engine came back")
    assert served_by(gw.port, "keep.docker.test") == "keep"
