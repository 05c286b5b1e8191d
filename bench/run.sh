#!/usr/bin/env bash
# Builds the bench example and the raw tokio-tungstenite server in release mode, starts chanx and
# two raw servers (tungstenite's default 128 KiB read buffer, and a 4 KiB one), all pinned to
# CPU 0, and runs the load generator (pinned to CPU 1) against each in turn.
# Extra arguments go to the load generator, e.g. `bench/run.sh --duration 10`.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

CHANX_ADDR=127.0.0.1:18080
RAW_ADDR=127.0.0.1:18081
RAW4K_ADDR=127.0.0.1:18082
REDIS_URL="" RUST_LOG=warn $pin0 target/release/examples/bench --addr "$CHANX_ADDR" & chanx_pid=$!
$pin0 target/release/raw_server --addr "$RAW_ADDR" & raw_pid=$!
$pin0 target/release/raw_server --addr "$RAW4K_ADDR" --read-buffer 4096 & raw4k_pid=$!
trap 'kill $chanx_pid $raw_pid $raw4k_pid 2>/dev/null || true' EXIT
sleep 1

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(rustc --version)"
$pin1 target/release/loadgen \
    --target "chanx=ws://$CHANX_ADDR/ws/bench/@$chanx_pid" \
    --target "raw=ws://$RAW_ADDR/@$raw_pid" \
    --target "raw-4k=ws://$RAW4K_ADDR/@$raw4k_pid" \
    "$@"
