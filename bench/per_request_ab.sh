#!/usr/bin/env bash
# per_request_ab.sh — CPU per request of HAProxy and two Turnpike binaries (e.g. main and a branch),
# HTTP/2 over TLS, measured one at a time with bench/per_request.sh (proxy pinned to CPU 1, h2load
# and a fixed-body nginx origin on CPU 0), alternating A B B A so that the machine's drift hits both.
# One line per run (with the load average), full per_request.sh output in $LOGDIR.
#
#   bench/per_request_ab.sh REPS TURNPIKE_A TURNPIKE_B [N]     (N requests per run, default 100000)
#
# PEER=nginx compares with nginx instead of HAProxy (same origin; nginx as peers.sh runs it).
# OPTS sets h2load's options (default "-t1 -c50 -m10"); OPTS="--h1 -t1 -c50 -m1" measures HTTPS
# keep-alive (HTTP/1.1 over TLS, one request at a time per connection, as wrk's tls-ka).
#
# Every process it starts is stopped by PID on exit. Needs nginx-light, haproxy, h2load, perf.
set -uo pipefail
REPS=$1; A=$2; B=$3; N=${4:-100000}
W=$(mktemp -d /tmp/per_request_ab.XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; sleep 1; rm -rf "$W"; }
trap cleanup EXIT
fp() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench -keyout $W/key.pem -out $W/cert.pem 2>/dev/null
cat $W/cert.pem $W/key.pem > $W/combo.pem
O=$(fp); PH=$(fp); PA=$(fp); PB=$(fp)
HERE=$(cd "$(dirname "$0")" && pwd)
/usr/bin/python3 "$HERE"/benchlib.py origin $W $O > $W/origin.conf
taskset -c 0 nginx -c $W/origin.conf -p $W </dev/null >/dev/null 2>&1 & PIDS+=($!)
PEER=${PEER:-haproxy}
/usr/bin/python3 "$HERE"/benchlib.py "$PEER" $W $O $PH > $W/peer.cfg
case $PEER in
  haproxy) haproxy -db -f $W/peer.cfg </dev/null >/dev/null 2>&1 & PIDS+=($!); HP=$! ;;
  nginx) nginx -c $W/peer.cfg -p $W </dev/null >/dev/null 2>&1 & PIDS+=($!); HP=$! ;;
  *) echo "PEER must be haproxy or nginx" >&2; exit 2 ;;
esac
read -r -a H2OPTS <<< "${OPTS:--t1 -c50 -m10}"
mk() { # name port
cat > $W/$1.yml <<E2
entryPoints:
  websecure: {address: "127.0.0.1:$2"}
providers: {file: {filename: "$W/dynamic.yml"}}
log: {level: ERROR}
E2
}
cat > $W/dynamic.yml <<E2
http:
  routers:
    secure: {rule: "PathPrefix(\`/\`)", entryPoints: [websecure], service: origin, tls: {}}
  services:
    origin: {loadBalancer: {servers: [{url: "http://127.0.0.1:$O"}]}}
tls:
  certificates: [{certFile: "$W/cert.pem", keyFile: "$W/key.pem"}]
E2
mk a $PA; mk b $PB
$A --configFile=$W/a.yml --core.workers=1 </dev/null >$W/a.log 2>&1 & PIDS+=($!); AP=$!
$B --configFile=$W/b.yml --core.workers=1 </dev/null >$W/b.log 2>&1 & PIDS+=($!); BP=$!
sleep 2
for u in $PH $PA $PB; do
  for i in $(seq 50); do [ "$(curl -sk -o /dev/null -w %{http_code} https://127.0.0.1:$u/)" = 200 ] && break; sleep 0.2; done
done
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/per_request_ab_logs.XXXX)}
echo "logs: $LOGDIR"
mkdir -p "$LOGDIR"
for r in $(seq $REPS); do
  if [ $((r % 2)) = 1 ]; then order="$PEER:$HP:$PH a:$AP:$PA b:$BP:$PB"
  else order="b:$BP:$PB a:$AP:$PA $PEER:$HP:$PH"; fi
  for t in $order; do
    IFS=: read -r name pid port <<< "$t"
    res=$("$HERE"/per_request.sh $pid https://127.0.0.1:$port/ $N "${H2OPTS[@]}" 2>&1)
    line=$(echo "$res" | grep '^user')
    fin=$(echo "$res" | grep 'succeeded' | head -1)
    echo "$r $name load=$(cut -d' ' -f1 /proc/loadavg) $line | $fin"
    echo "$res" > "$LOGDIR/$r.$name.txt"
  done
done
