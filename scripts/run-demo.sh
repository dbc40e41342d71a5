#!/usr/bin/env bash
# `make run`: starts two demo upstreams and the gateway on the demo configuration in
# examples/demo, prints URLs to try, and stops everything on Ctrl-C.
set -euo pipefail
BUILD_DIR=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$ROOT/$BUILD_DIR
WORK=$(mktemp -d /tmp/turnpike-demo.XXXXXX)
sed "s#@DEMO_DIR@#$WORK#" "$ROOT/examples/demo/turnpike.yml" > "$WORK/turnpike.yml"
cp "$ROOT/examples/demo/dynamic.yml" "$WORK/dynamic.yml"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 0' INT TERM
"$BIN/tests/test_upstream" --listen 127.0.0.1:9001 --name upstream-1 >"$WORK/up1.log" 2>&1 & pids+=($!)
"$BIN/tests/test_upstream" --listen 127.0.0.1:9002 --name upstream-2 >"$WORK/up2.log" 2>&1 & pids+=($!)
"$BIN/turnpike" --configFile="$WORK/turnpike.yml" & pids+=($!)
for _ in $(seq 1 50); do curl -s -o /dev/null http://127.0.0.1:8080/ && break; sleep 0.1; done
cat <<MSG

Turnpike is running on http://localhost:8080 (configuration: $WORK/turnpike.yml, live-reloaded
dynamic configuration: $WORK/dynamic.yml). Try:

  curl -i http://localhost:8080/api/hello          # stripPrefix + headers, load-balanced over 2 upstreams
  curl -i http://localhost:8080/admin              # 401: basicAuth
  curl -i -u demo:demo http://localhost:8080/admin # 200
  curl -i http://localhost:8080/nowhere            # 404 page not found

Edit $WORK/dynamic.yml and the change is live at once. Ctrl-C stops everything.
MSG
wait "${pids[2]}"
