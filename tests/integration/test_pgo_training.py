"""The training run of the profile-guided build (`make pgo`, scripts/build-pgo.sh): its traffic
mix must keep working against the current gateway, every request answered with a success; a mix
that drifted into errors would teach the compiler the error paths as the hot ones."""

import subprocess

from turnpike_it import REPO_ROOT


def test_training_mix_is_served_without_errors(turnpike_bin):
    p = subprocess.run(["/usr/bin/python3",
                        str(REPO_ROOT / "bench" / "pgo_train.py"), str(turnpike_bin),
                        "--seconds", "1"], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    # Each phase reported what its load generator saw: plain HTTP/1.1, HTTPS and HTTP/2.
    lines = p.stdout.splitlines()
    assert any(line.startswith("wrk http://") and "Requests/sec" in line for line in lines), p.stdout
    assert any(line.startswith("wrk https://") and "Requests/sec" in line for line in lines), p.stdout
    h2 = [line for line in lines if line.startswith("h2load https://") and "succeeded" in line]
    assert len(h2) >= 4, p.stdout
    for line in lines:
        if "status codes:" in line:
            assert " 0 4xx, 0 5xx" in line, line
