#!/usr/bin/env bash
# Instructions per round trip and per delivery, for chanx and the tuned raw server, counted by
# valgrind's callgrind (repeatable on a shared machine, unlike time). Each server runs under
# callgrind once for N operations and once for 2N; the difference of the two totals, divided by
# N, is the cost of one operation with startup, connection setup and shutdown cancelled out.
#
#   bench/callgrind.sh                     # both servers, echo (50 connections) and fan-out (1,000 members)
#   ECHO_OPS=4000 FANOUT_OPS=20 bench/callgrind.sh chanx
#   bench/callgrind.sh history no-history  # fan-out only: chanx's topic with history, and without
#   ACCEPT_OPS=500 bench/callgrind.sh      # adds instructions per connection (accept, handshake, setup, close)
#   ECHO_OPS=0 FANOUT_OPS=0 ACCEPT_OPS=500 bench/callgrind.sh   # that alone (0 skips a scenario)
#
# The profiles of the 2N runs stay in $OUT (default bench/results/callgrind/) for
# `callgrind_annotate --inclusive=yes FILE`. BENCH_NO_BUILD=1 skips the build;
# CHANX_BIN/RAW_BIN run other binaries (such as a build of an earlier commit).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

OUT="${OUT:-bench/results/callgrind}"
ECHO_CONNS="${ECHO_CONNS:-50}"
ECHO_OPS="${ECHO_OPS:-3000}"
FANOUT_MEMBERS="${FANOUT_MEMBERS:-1000}"
FANOUT_OPS="${FANOUT_OPS:-10}"
ACCEPT_OPS="${ACCEPT_OPS:-0}"
CHANX_BIN="${CHANX_BIN:-$bin/examples/bench}"
RAW_BIN="${RAW_BIN:-$bin/raw_server}"
servers=("${@:-chanx raw}")
read -r -a servers <<< "${servers[*]}"
mkdir -p "$OUT"

# total SERVER SCENARIO CONNS OPS: runs the server under callgrind for OPS operations; prints its
# instruction total.
total() {
    local server="$1" scenario="$2" conns="$3" ops="$4" port=18190 path pid out action=broadcast
    out="$OUT/$server.$scenario.$ops.out"
    case "$server" in
        chanx|history|no-history)
            case "$server" in
                chanx) path=/ws/bench/ ;;
                history) path=/ws/feed/history/ action=publish ;;
                no-history) path=/ws/feed/ action=publish ;;
            esac
            REDIS_URL="" RUST_LOG=warn $pin0 valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$CHANX_BIN" --addr "127.0.0.1:$port" 2>/dev/null & pid=$! ;;
        raw) path=/
            $pin0 valgrind --tool=callgrind --callgrind-out-file="$out" \
                "$RAW_BIN" --addr "127.0.0.1:$port" 2>/dev/null & pid=$! ;;
    esac
    until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.2; done
    $pin1 "$bin/loadgen" --drive "$scenario" "ws://127.0.0.1:$port$path@$pid" "$conns" "$ops" "$action" >/dev/null
    sleep 1
    kill -TERM "$pid"  # valgrind writes the profile on a fatal signal too
    wait "$pid" || true
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(valgrind --version), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| server | instructions per round trip (echo, $ECHO_CONNS conns) | instructions per delivery (fan-out, $FANOUT_MEMBERS members) | instructions per connection |"
echo "|---|---:|---:|---:|"
for server in "${servers[@]}"; do
    per_rt=null
    if [ "$ECHO_OPS" -gt 0 ] && { [ "$server" = chanx ] || [ "$server" = raw ]; }; then  # the feed routes answer no ping
        e1="$(total "$server" echo "$ECHO_CONNS" "$ECHO_OPS")"
        e2="$(total "$server" echo "$ECHO_CONNS" $((2 * ECHO_OPS)))"
        per_rt=$(( (e2 - e1) / ECHO_OPS ))
    fi
    per_delivery=null
    if [ "$FANOUT_OPS" -gt 0 ]; then
        f1="$(total "$server" fanout "$FANOUT_MEMBERS" "$FANOUT_OPS")"
        f2="$(total "$server" fanout "$FANOUT_MEMBERS" $((2 * FANOUT_OPS)))"
        per_delivery=$(( (f2 - f1) / (FANOUT_OPS * FANOUT_MEMBERS) ))
    fi
    per_conn=null
    if [ "$ACCEPT_OPS" -gt 0 ]; then  # 64 at a time, as the accept benchmark opens them
        a1="$(total "$server" accept 64 "$ACCEPT_OPS")"
        a2="$(total "$server" accept 64 $((2 * ACCEPT_OPS)))"
        per_conn=$(( (a2 - a1) / ACCEPT_OPS ))
    fi
    echo "| $server | $per_rt | $per_delivery | $per_conn |"
    echo "{\"server\": \"$server\", \"instr_per_round_trip\": $per_rt, \"instr_per_delivery\": $per_delivery, \"instr_per_connection\": $per_conn}" > "$OUT/$server.json"
done
