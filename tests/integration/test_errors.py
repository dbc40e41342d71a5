"""The errors middleware through the binary: caught statuses are replaced by a page from a real
error-page service (another test_upstream, whose JSON echo shows the page request it got)."""

import pytest

import turnpike_it as it
from turnpike_it import request

H = "errors.test"


@pytest.fixture(scope="module")
def gw(module_env):
    app = module_env.upstream("app")
    pages = module_env.upstream("pages")
    dead = it.dead_url()
    def r(prefix, service, mws):
        return it.prefix_router(H, prefix, service, mws)
    dynamic = {"http": {
        "routers": {
            "app": r("/app", "app", ["pages"]),
            "dead": r("/dead", "dead", ["pages"]),
            "rewrite": r("/rewrite", "app", ["rewrite"]),
        },
        "services": {"app": it.service(app), "pages": it.service(pages), "dead": it.service(dead)},
        "middlewares": {
            "pages": {"errors": {"status": ["500-599", "404"], "service": "pages",
                                 "query": "/page/{status}?url={url}"}},
            "rewrite": {"errors": {"status": ["418", "500-503"], "service": "pages",
                                   "statusRewrites": {"418": 404, "500-503": 503},
                                   "query": "/p/{status}/{originalStatus}"}},
        },
    }}
    g = module_env.gateway(dynamic=dynamic, ready=(H, "/app/ok"))
    g.app, g.pages = app, pages
    return g


def test_caught_status_gets_the_page_under_the_original_status(gw):
    r = request(gw.port, "/app/status/503?x=1", host=H, headers=[("X-Trace", "t1")])
    assert r.status == 503
    page = r.echo
    assert page.name == "pages"  # the body is the page service's
    assert page.method == "GET"
    assert page.path == "/page/503?url=%2Fapp%2Fstatus%2F503%3Fx%3D1"
    assert page.header("X-Trace") == "t1"  # the original request's headers go along
    assert r.header("X-Upstream-Name") == "pages"


def test_other_statuses_and_successes_pass_through(gw):
    before = gw.pages.stats()["app_requests"]
    r = request(gw.port, "/app/status/403", host=H)
    assert r.status == 403 and r.echo.name == "app"
    r = request(gw.port, "/app/ok", host=H)
    assert r.status == 200 and r.echo.name == "app"
    assert gw.pages.stats()["app_requests"] == before


def test_the_gateways_own_502_is_replaced_too(gw):
    r = request(gw.port, "/dead/x", host=H)
    assert r.status == 502
    assert r.echo.name == "pages"
    assert r.echo.path.startswith("/page/502?")


def test_status_rewrites(gw):
    r = request(gw.port, "/rewrite/status/418", host=H)
    assert r.status == 404
    assert r.echo.path == "/p/404/418"
    r = request(gw.port, "/rewrite/status/501", host=H)
    assert r.status == 503
    assert r.echo.path == "/p/503/501"
