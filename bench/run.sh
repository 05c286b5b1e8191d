#!/usr/bin/env bash
# Builds the bench example (chanx) and the raw tokio-tungstenite servers in release mode and runs
# the load generator against them, servers pinned to CPU 0 and the generator to CPU 1:
#
#   chanx     examples/bench.rs, default Settings
#   raw       bench/src/bin/raw_server.rs --style tuned (8 KiB read buffer, broadcast channel,
#             one task per connection, one flush per wake-up): the baseline of the targets
#   raw-128k  raw_server --style examples: tokio-tungstenite's examples, default 128 KiB buffer
#
# Two phases: 50,000 idle connections (IDLE, default 50000) spread over 4 processes of each
# server, since this machine allows 20,000 open files per process; then every other scenario
# against one process of each. Results: Markdown on stdout, JSON in $OUT (default
# bench/results/) for bench/charts.py. Extra arguments go to the load generator of the second
# phase, e.g. `bench/run.sh --duration 2 --rounds 1`. CHANX_BEFORE_BIN=PATH adds a fourth target
# to the second phase, `chanx-before`: another build of the bench example (such as one of main),
# measured in the same rounds, for a before/after comparison.
#
# A third phase measures what topic history costs a fan-out: two chanx processes, one member
# set subscribed to topic `feed.history` (history of 1,000 pushes) and one to `feed` (none),
# the same pushes, the rounds alternating (HISTORY_FANOUT, default 1000 members; 0 skips it).
# Its rows are prefixed `topic` (bench/results/history.json).
#
# The full run the benchmark page quotes, about 7 minutes on 2 cores (estimated from the scenarios' timings;
# `--duration 2` makes it about 6):
#
#   bench/run.sh --duration 3 --rounds 3 --echo 50,500 --fanout 1000,10000
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

OUT="${OUT:-bench/results}"
IDLE="${IDLE:-50000}"
HISTORY_FANOUT="${HISTORY_FANOUT:-1000}"
mkdir -p "$OUT"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start() { # start PORT KIND: starts one server, appends "URL@PID" to $spec
    local port="$1" kind="$2" pid
    case "$kind" in
        chanx) REDIS_URL="" RUST_LOG=warn $pin0 "$bin/examples/bench" --addr "127.0.0.1:$port" & pid=$!; path=/ws/bench/ ;;
        history) REDIS_URL="" RUST_LOG=warn $pin0 "$bin/examples/bench" --addr "127.0.0.1:$port" & pid=$!; path=/ws/feed/history/ ;;
        no-history) REDIS_URL="" RUST_LOG=warn $pin0 "$bin/examples/bench" --addr "127.0.0.1:$port" & pid=$!; path=/ws/feed/ ;;
        chanx-before) REDIS_URL="" RUST_LOG=warn $pin0 "$CHANX_BEFORE_BIN" --addr "127.0.0.1:$port" & pid=$!; path=/ws/bench/ ;;
        raw) $pin0 "$bin/raw_server" --addr "127.0.0.1:$port" & pid=$!; path=/ ;;
        raw-128k) $pin0 "$bin/raw_server" --addr "127.0.0.1:$port" --style examples & pid=$!; path=/ ;;
    esac
    pids+=("$pid")
    spec="${spec:+$spec,}ws://127.0.0.1:$port$path@$pid"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(rustc --version), load: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$IDLE" -gt 0 ]; then
    targets=()
    port=18100
    for kind in chanx raw raw-128k; do
        spec=""
        for _ in 1 2 3 4; do start "$port" "$kind"; port=$((port + 1)); done
        targets+=(--target "$kind=$spec")
    done
    sleep 1
    $pin1 "$bin/loadgen" "${targets[@]}" --idle "$IDLE" --accepts 0 --echo "" --fanout "" --groups 0 \
        --json "$OUT/idle.json"
    kill "${pids[@]}" 2>/dev/null || true
    pids=()
    sleep 1
fi

targets=()
port=18080
kinds=(chanx raw raw-128k)
if [ -n "${CHANX_BEFORE_BIN:-}" ]; then kinds+=(chanx-before); fi
for kind in "${kinds[@]}"; do
    spec=""
    start "$port" "$kind"
    port=$((port + 1))
    targets+=(--target "$kind=$spec")
done
sleep 1
echo "# load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
$pin1 "$bin/loadgen" "${targets[@]}" --idle 0 --fanout 100,1000,10000 --json "$OUT/throughput.json" "$@"
echo "# load after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
kill "${pids[@]}" 2>/dev/null || true
pids=()

if [ "$HISTORY_FANOUT" != 0 ]; then
    sleep 1
    targets=()
    port=18090
    for kind in history no-history; do
        spec=""
        start "$port" "$kind"
        port=$((port + 1))
        targets+=(--target "$kind=$spec")
    done
    sleep 1
    # The scenario flags after "$@" win: only the fan-out, to the topics' subscribers.
    $pin1 "$bin/loadgen" "${targets[@]}" "$@" --idle 0 --accepts 0 --echo "" --groups 0 \
        --fanout "$HISTORY_FANOUT" --action publish --prefix "topic " --json "$OUT/history.json"
    echo "# load after the history run: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
