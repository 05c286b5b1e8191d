#!/usr/bin/env bash
# Fan-out through Redis: two `bench` processes sharing group `bench` over REDIS_URL (default the
# local Redis) on the pub/sub layer, two more on the core layer (REDIS_LAYER=core, channels_redis's
# RedisChannelLayer protocol), members spread over both of each pair, against one in-memory
# process, in the same run.
# Extra arguments go to the load generator.
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh

REDIS="${REDIS_URL:-redis://127.0.0.1:6379}"
REDIS_URL="$REDIS" RUST_LOG=warn $pin0 "$bin/examples/bench" --addr 127.0.0.1:18083 & a_pid=$!
REDIS_URL="$REDIS" RUST_LOG=warn $pin0 "$bin/examples/bench" --addr 127.0.0.1:18084 & b_pid=$!
REDIS_URL="$REDIS" REDIS_LAYER=core RUST_LOG=warn $pin0 "$bin/examples/bench" --addr 127.0.0.1:18086 & c_pid=$!
REDIS_URL="$REDIS" REDIS_LAYER=core RUST_LOG=warn $pin0 "$bin/examples/bench" --addr 127.0.0.1:18087 & d_pid=$!
REDIS_URL="" RUST_LOG=warn $pin0 "$bin/examples/bench" --addr 127.0.0.1:18085 & m_pid=$!
trap 'kill $a_pid $b_pid $c_pid $d_pid $m_pid 2>/dev/null || true' EXIT
sleep 1

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(rustc --version), Redis at $REDIS"
$pin1 "$bin/loadgen" \
    --target "redis-2-processes=ws://127.0.0.1:18083/ws/bench/@$a_pid,ws://127.0.0.1:18084/ws/bench/@$b_pid" \
    --target "redis-core-2-processes=ws://127.0.0.1:18086/ws/bench/@$c_pid,ws://127.0.0.1:18087/ws/bench/@$d_pid" \
    --target "memory-1-process=ws://127.0.0.1:18085/ws/bench/@$m_pid" \
    --idle 0 --accepts 0 --echo "" --fanout 1000 --groups 0 \
    "$@"
