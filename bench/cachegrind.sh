#!/usr/bin/env bash
# Simulated cache misses per delivery (fan-out) and per round trip (echo), for chanx and the tuned
# raw server: valgrind's cachegrind with --cache-sim=yes (L1 as the host's; the last level as one
# core's L2, see LL below). Each server runs once for N operations and once for 2N; the
# difference divided by N is the cost of one operation, as bench/callgrind.sh does for
# instructions. Deterministic on a loaded machine (this VM has no hardware cache counters for
# perf); user space only: the kernel's footprint is not simulated.
#
#   bench/cachegrind.sh                     # chanx and raw: fan-out to 1,000 members, echo over 50
#   FANOUT_MEMBERS=10000 bench/cachegrind.sh chanx raw
#
# BENCH_NO_BUILD=1 skips the build; CHANX_BIN/RAW_BIN run other binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

OUT="${OUT:-bench/results/cachegrind}"
# The last level simulated is one core's L2 of this machine (2 MiB, 16-way): the host's L3 (300 MiB)
# would hide every miss that costs time here.
LL="${LL:-2097152,16,64}"
ECHO_CONNS="${ECHO_CONNS:-50}"
ECHO_OPS="${ECHO_OPS:-3000}"
FANOUT_MEMBERS="${FANOUT_MEMBERS:-1000}"
FANOUT_OPS="${FANOUT_OPS:-10}"
CHANX_BIN="${CHANX_BIN:-$bin/examples/bench}"
RAW_BIN="${RAW_BIN:-$bin/raw_server}"
servers=("${@:-chanx raw}")
read -r -a servers <<< "${servers[*]}"
mkdir -p "$OUT"

# counts SERVER SCENARIO CONNS OPS: the server under cachegrind for OPS operations; prints
# "Ir D1-misses LL-misses" (reads and writes together).
counts() {
    local server="$1" scenario="$2" conns="$3" ops="$4" port=18195 path pid out action=broadcast
    out="$OUT/$server.$scenario.$ops.out"
    case "$server" in
        chanx|history|no-history)
            case "$server" in
                chanx) path=/ws/bench/ ;;
                history) path=/ws/feed/history/ action=publish ;;
                no-history) path=/ws/feed/ action=publish ;;
            esac
            REDIS_URL="" RUST_LOG=warn $pin0 valgrind --tool=cachegrind --cache-sim=yes --LL="$LL" --cachegrind-out-file="$out" \
                "$CHANX_BIN" --addr "127.0.0.1:$port" 2>/dev/null & pid=$! ;;
        raw) path=/
            $pin0 valgrind --tool=cachegrind --cache-sim=yes --LL="$LL" --cachegrind-out-file="$out" \
                "$RAW_BIN" --addr "127.0.0.1:$port" 2>/dev/null & pid=$! ;;
    esac
    until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.2; done
    $pin1 "$bin/loadgen" --drive "$scenario" "ws://127.0.0.1:$port$path@$pid" "$conns" "$ops" "$action" >/dev/null
    sleep 1
    kill -TERM "$pid"
    wait "$pid" || true
    # events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
    awk '/^summary:/ {print $2, $6 + $9, $7 + $10; exit}' "$out"
}

per_op() { # per_op "A" "B" N: (B - A) / N for each of the three counts
    awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f %.2f %.2f", (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n}'
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(valgrind --version), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| server | scenario | instructions per op | D1 misses per op | LL misses per op |"
echo "|---|---|---:|---:|---:|"
for server in "${servers[@]}"; do
    f1="$(counts "$server" fanout "$FANOUT_MEMBERS" "$FANOUT_OPS")"
    f2="$(counts "$server" fanout "$FANOUT_MEMBERS" $((2 * FANOUT_OPS)))"
    read -r ir d1 ll <<< "$(per_op "$f1" "$f2" $((FANOUT_OPS * FANOUT_MEMBERS)))"
    echo "| $server | fan-out $FANOUT_MEMBERS, per delivery | $ir | $d1 | $ll |"
    if [ "$server" = chanx ] || [ "$server" = raw ]; then
        e1="$(counts "$server" echo "$ECHO_CONNS" "$ECHO_OPS")"
        e2="$(counts "$server" echo "$ECHO_CONNS" $((2 * ECHO_OPS)))"
        read -r ir d1 ll <<< "$(per_op "$e1" "$e2" "$ECHO_OPS")"
        echo "| $server | echo $ECHO_CONNS, per round trip | $ir | $d1 | $ll |"
    fi
done
