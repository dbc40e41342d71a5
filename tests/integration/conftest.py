"""Fixtures for the Turnpike integration suite (see README.md in this folder).

The suite runs the real `turnpike` binary and real `test_upstream` processes from the build
directory ($TURNPIKE_BUILD_DIR, default <repo>/build) on loopback with kernel-chosen ports.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import turnpike_it as it


def _binary_or_skip(name: str) -> Path:
    b = it.find_binary(name)
    if b is None:
        msg = f"{name} not found in {it.build_dir()} (build it, or set TURNPIKE_BUILD_DIR)"
        if os.environ.get("TURNPIKE_BUILD_DIR"):
            pytest.fail(msg)  # an explicit build dir without the binary is an error
        pytest.skip(msg)
    return b


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: takes minutes (testssl scan); still part of `make test`, deselect "
        "with -m 'not slow'")


@pytest.fixture(scope="session")
def turnpike_bin() -> Path:
    return _binary_or_skip("turnpike")


@pytest.fixture(scope="session")
def upstream_bin() -> Path:
    return _binary_or_skip("test_upstream")


class Env:
    """Starts upstreams and gateways for one fixture scope and stops them (by PID) at the end."""

    def __init__(self, workdir: Path, turnpike_bin: Path, upstream_bin: Path):
        self.workdir = Path(workdir)
        self.turnpike_bin = turnpike_bin
        self.upstream_bin = upstream_bin
        self.group = it.ProcessGroup()
        self._n = 0

    def upstream(self, name: str, record: bool = False, host: str = "127.0.0.1",
                 port: int = 0) -> it.Upstream:
        return self.group.add(it.Upstream(self.upstream_bin, name, self.workdir, record, host, port))

    def gateway(self, start: bool = True, ready=None, args=None, **kw) -> it.Gateway:
        self._n += 1
        gw = self.group.add(it.Gateway(self.turnpike_bin, self.workdir / f"gw{self._n}", **kw))
        if start:
            gw.start(ready=ready, args=args)
        return gw

    def close(self):
        self.group.stop_all()


@pytest.fixture
def env(tmp_path, turnpike_bin, upstream_bin):
    e = Env(tmp_path, turnpike_bin, upstream_bin)
    yield e
    e.close()


@pytest.fixture(scope="module")
def module_env(tmp_path_factory, turnpike_bin, upstream_bin, request):
    e = Env(tmp_path_factory.mktemp(request.module.__name__), turnpike_bin, upstream_bin)
    yield e
    e.close()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Test certificates for TLS upstreams (upstream_it.Pki), made once per session."""
    import upstream_it
    return upstream_it.Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(autouse=True)
def _revive_crashed_gateways():
    """A module's shared gateway that crashed during an earlier test is restarted first."""
    for gw in list(it.RUNNING_GATEWAYS):
        gw.revive()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the log of every running gateway to a failing test's report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and call.when in ("setup", "call"):
        for gw in list(it.RUNNING_GATEWAYS):
            rep.sections.append((f"turnpike log ({gw.workdir.name})", gw.log_tail(150)))


def pytest_terminal_summary(terminalreporter):
    if it.MEASUREMENTS:
        terminalreporter.section("turnpike measurements")
        for line in it.MEASUREMENTS:
            terminalreporter.write_line(line)
