"""The command line: `turnpike version`, `--validate`, static-configuration errors, and the
static configuration given as flags or as environment variables instead of a file."""

import os
import re
import subprocess
import time

import pytest

import turnpike_it as it
from turnpike_it import REPO_ROOT, free_port, request, to_yaml, wait_port


def clean_env(tmp_path, **extra):
    """An environment without TURNPIKE_*/TRAEFIK_* and with HOME/XDG pointing at an empty
    folder, so no configuration file is found by search."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TURNPIKE_", "TRAEFIK_"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.update(extra)
    return env


def run(turnpike_bin, args, tmp_path, env=None, timeout=20):
    return subprocess.run([str(turnpike_bin)] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env or clean_env(tmp_path),
                          stdin=subprocess.DEVNULL)


def project_version() -> str:
    m = re.search(r"project\(turnpike VERSION ([0-9.]+)", (REPO_ROOT / "CMakeLists.txt").read_text())
    return m.group(1)


def test_version(turnpike_bin, tmp_path):
    p = run(turnpike_bin, ["version"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^Version:\s+" + re.escape(project_version()) + r"\s*$", p.stdout, re.M), p.stdout


def good_files(tmp_path, upstream_url="http://127.0.0.1:1"):
    dyn = tmp_path / "dynamic.yml"
    dyn.write_text(to_yaml({"http": {
        "routers": {"r": {"rule": "Host(`cli.test`)", "service": "s"}},
        "services": {"s": {"loadBalancer": {"servers": [{"url": upstream_url}]}}},
    }}))
    static = tmp_path / "good.yml"
    static.write_text(to_yaml({
        "entryPoints": {"web": {"address": f"127.0.0.1:{free_port()}"}},
        "providers": {"providersThrottleDuration": "100ms", "file": {"filename": str(dyn)}},
    }))
    return static, dyn


def test_validate_good_configuration(turnpike_bin, tmp_path):
    static, _ = good_files(tmp_path)
    p = run(turnpike_bin, ["--validate", f"--configFile={static}"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr


BROKEN_STATIC = [
    # (id, YAML text, key path the message must name)
    ("bad-duration",
     "entryPoints:\n  web:\n    address: \"127.0.0.1:8081\"\n    transport:\n      lifeCycle:\n"
     "        graceTimeOut: \"ten seconds\"\n",
     "entryPoints.web.transport.lifeCycle.graceTimeOut"),
    ("bad-address",
     "entryPoints:\n  web:\n    address: \"127.0.0.1:notaport\"\n",
     "entryPoints.web.address"),
    ("unknown-key",
     "entryPoints:\n  web:\n    address: \"127.0.0.1:8081\"\n    adress: \"x\"\n",
     "entryPoints.web.adress"),
    ("yaml-syntax",
     "entryPoints:\n  web:\n    address: [\"127.0.0.1:8081\"\n",
     None),
]


@pytest.mark.parametrize("name,text,key", BROKEN_STATIC, ids=[b[0] for b in BROKEN_STATIC])
@pytest.mark.parametrize("mode", ["validate", "start"])
def test_broken_static_file_exits_1_naming_file_and_key(turnpike_bin, tmp_path, name, text, key, mode):
    static = tmp_path / "broken-static.yml"
    static.write_text(text)
    args = [f"--configFile={static}"] + (["--validate"] if mode == "validate" else [])
    p = run(turnpike_bin, args, tmp_path)
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "broken-static.yml" in out, out
    if key:
        assert key.lower() in out.lower(), out


def serve_check(turnpike_bin, tmp_path, args, env, port):
    """Start turnpike with args/env, wait for the route, stop it."""
    proc = subprocess.Popen([str(turnpike_bin)] + args, cwd=tmp_path, env=env,
                            stdout=open(tmp_path / "turnpike.log", "wb"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc=proc)
        deadline = time.monotonic() + 10
        while True:
            r = request(port, "/", host="cli.test")
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status == 200, (r.status, (tmp_path / "turnpike.log").read_text())
        return r
    finally:
        proc.terminate()
        proc.wait(timeout=15)


SOURCES = {
    # source -> (args, env) for an entry point on PORT and the dynamic file DYN
    "flags": lambda port, dyn: ([f"--entryPoints.web.address=127.0.0.1:{port}",
                                 f"--providers.file.filename={dyn}",
                                 "--providers.providersThrottleDuration=100ms"], {}),
    "turnpike-env": lambda port, dyn: ([], {"TURNPIKE_ENTRYPOINTS_WEB_ADDRESS": f"127.0.0.1:{port}",
                                            "TURNPIKE_PROVIDERS_FILE_FILENAME": str(dyn),
                                            "TURNPIKE_PROVIDERS_PROVIDERSTHROTTLEDURATION": "100ms"}),
    "traefik-env": lambda port, dyn: ([], {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": f"127.0.0.1:{port}",
                                           "TRAEFIK_PROVIDERS_FILE_FILENAME": str(dyn)}),
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_static_configuration_without_a_file(turnpike_bin, upstream_bin, tmp_path, source):
    up = it.Upstream(upstream_bin, source, tmp_path)
    try:
        _, dyn = good_files(tmp_path, up.url)
        port = free_port()
        args, env = SOURCES[source](port, dyn)
        r = serve_check(turnpike_bin, tmp_path, args, clean_env(tmp_path, **env), port)
        assert r.echo.name == source
    finally:
        up.stop()
