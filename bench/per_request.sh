#!/usr/bin/env bash
# per_request.sh — what one request costs a running proxy, counted rather than timed: user and
# system CPU (from /proc, all threads), system calls by kind (perf tracepoint counts, which do not
# slow the process down the way strace does), page faults and context switches, each divided by
# the number of requests. Counts survive a shared machine far better than req/s do; CPU time per
# request still moves by about ±10 % with the load of the other core.
#
#   bench/per_request.sh PID URL [N] [h2load options...]
#
# PID is the proxy (any proxy: Turnpike, HAProxy, nginx's worker); it is pinned to CPU 1 and
# h2load to CPU 0. h2load runs once to warm up (connections, pools, caches), then N requests
# (default 100000) are counted. Default h2load options: -t1 -c50 -m10 (the HTTP/2
# bar); pass e.g. `--h1` for HTTP/1.1. Needs perf (root, or perf_event_paranoid <= 1) and h2load.
set -euo pipefail
P=$1
URL=$2
N=${3:-100000}
shift $(($# < 3 ? $# : 3))
OPTS=("$@")
[ ${#OPTS[@]} -gt 0 ] || OPTS=(-t1 -c50 -m10)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

taskset -a -p -c 1 "$P" > /dev/null
taskset -c 0 h2load "${OPTS[@]}" -n 20000 "$URL" > /dev/null 2>&1

ticks() { # user and system ticks of every thread of $P
  local u=0 s=0 t
  for t in /proc/"$P"/task/*/stat; do
    set -- $(cut -d')' -f2 "$t")
    u=$((u + ${12})) s=$((s + ${13}))
  done
  echo "$u $s"
}
EV=task-clock,page-faults,context-switches,raw_syscalls:sys_enter
for s in read write recvfrom sendto readv writev recvmsg sendmsg epoll_wait epoll_ctl connect \
  accept accept4 close madvise timerfd_settime; do
  EV="$EV,syscalls:sys_enter_$s"
done
read -r u0 s0 < <(ticks)
perf stat -x, -o "$OUT" -e "$EV" -p "$P" &
SP=$!
sleep 0.3
taskset -c 0 h2load "${OPTS[@]}" -n "$N" "$URL" | grep -E '^(finished in|requests:)'
kill -INT $SP
wait $SP || true
read -r u1 s1 < <(ticks)
TCK=$(getconf CLK_TCK)
awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v n="$N" -v t="$TCK" 'BEGIN {
  printf "user %.1f us/request   system %.1f us/request   total %.1f\n", 1e6*u/t/n, 1e6*s/t/n, 1e6*(u+s)/t/n }'
awk -F, -v n="$N" '/^#/ || NF < 3 { next } $1 > 0 {
  name = $3; v = $1 / n; sub(/^syscalls:sys_enter_/, "", name)
  sub(/^raw_syscalls:sys_enter$/, "system calls (all)", name)
  if (name == "task-clock") { name = "task-clock (us)"; v *= 1000 }
  printf "  %-22s %8.3f per request\n", name, v }' "$OUT"
