#!/usr/bin/env bash
# Runs the benchmarks reported in docs/benchmarks.md: the side-by-side peer comparison
# (../shared/bench/peers.sh, nginx and HAProxy in the same run), the reload latency with 10,000
# routers, and the router lookup micro-benchmark. Results land in bench/out/.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
mkdir -p "$OUT"
PEERS=${PEERS_SH:-$ROOT/../shared/bench/peers.sh}
if [ -f "$PEERS" ]; then
  TURNPIKE=$ROOT/$BUILD_DIR/turnpike PROXIES="${PROXIES:-nginx haproxy}" \
    SCENARIOS="${SCENARIOS:-ka-unpinned ka-pinned close-pinned}" H2=0 \
    REPS=${REPS:-3} OUTDIR=$OUT/peers bash "$PEERS"
else
  echo "peers.sh not found at $PEERS (set PEERS_SH)" >&2
fi
# The reload benchmark's origin is the tests' upstream, which `make pgo` does not build.
if [ -x "$ROOT/$BUILD_DIR/tests/test_upstream" ]; then
  /usr/bin/python3 "$ROOT/bench/reload_bench.py" "$ROOT/$BUILD_DIR" --routers 10000 --json "$OUT/reload.json"
else
  echo "reload benchmark skipped: $BUILD_DIR has no tests/test_upstream (an ordinary build has)" >&2
fi
if [ -x "$ROOT/$BUILD_DIR/bench/router_bench" ]; then
  "$ROOT/$BUILD_DIR/bench/router_bench" --benchmark_out="$OUT/router.json" --benchmark_out_format=json
fi
# User-space instructions per request, Turnpike vs nginx vs HAProxy (callgrind; load-independent).
/usr/bin/python3 "$ROOT/bench/instructions_bench.py" --turnpike "$ROOT/$BUILD_DIR/turnpike" \
  | tee "$OUT/instructions.md"
