#!/usr/bin/env bash
# System calls, context switches and user/kernel CPU per operation of one server at full speed
# (callgrind counts only user-space instructions, under valgrind's timing). The server runs on
# CPU 0, `loadgen --drive` on CPU 1 for a fixed count; `perf stat` counts the kernel's syscall
# tracepoints and context switches of the server, /proc/PID gives utime, stime and every
# thread's context switches.
#
#   bench/syscalls.sh chanx fanout 1000 300    # 300 broadcasts to 1,000 members
#   bench/syscalls.sh raw echo 50 200000       # 200,000 round trips over 50 connections
#   bench/syscalls.sh history fanout 1000 300  # the same fan-out to a topic with history (no-history: without)
#
# CHANX_BIN runs another chanx binary (such as a build of an earlier commit); BENCH_NO_BUILD=1
# skips the build. Needs perf with tracepoint access (root, or perf_event_paranoid <= -1).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

kind="$1" scenario="$2" conns="$3" ops="$4" port="${PORT:-18300}" action=broadcast
case "$kind" in
    chanx|history|no-history)
        REDIS_URL="" RUST_LOG=warn $pin0 "${CHANX_BIN:-$bin/examples/bench}" --addr "127.0.0.1:$port" & pid=$!
        case "$kind" in chanx) path=/ws/bench/ ;; history) path=/ws/feed/history/ action=publish ;; *) path=/ws/feed/ action=publish ;; esac ;;
    raw) $pin0 "$bin/raw_server" --addr "127.0.0.1:$port" 2>/dev/null & pid=$!; path=/ ;;
    *) echo "chanx, raw, history or no-history" >&2; exit 2 ;;
esac
trap 'kill "$pid" 2>/dev/null || true' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
if [ "$scenario" = fanout ]; then n=$((conns * ops)); else n=$ops; fi
events=raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex
counts="$(mktemp)"
perf stat -x, -e "$events" -p "$pid" -o "$counts" & perf=$!
sleep 0.3
# utime stime (clock ticks), then voluntary and involuntary switches summed over the threads
snap() {
    local v=0 i=0 t
    for t in /proc/"$pid"/task/*; do
        v=$((v + $(awk '/^voluntary_ctxt/ {print $2}' "$t/status")))
        i=$((i + $(awk '/^nonvoluntary_ctxt/ {print $2}' "$t/status")))
    done
    echo "$(awk '{print $14, $15}' /proc/"$pid"/stat) $v $i"
}
before="$(snap)"
$pin1 "$bin/loadgen" --drive "$scenario" "ws://127.0.0.1:$port$path@$pid" "$conns" "$ops" "$action" >/dev/null
after="$(snap)"
kill -INT "$perf"; wait "$perf" || true
tick="$(getconf CLK_TCK)"
echo "$kind $scenario ($conns, $ops): $n operations"
paste <(echo "$before" | tr ' ' '\n') <(echo "$after" | tr ' ' '\n') <(printf 'utime\nstime\nvoluntary_switches\ninvoluntary_switches\n') |
    awk -v n="$n" -v tick="$tick" '{d = $2 - $1; if (NR <= 2) printf "  %s: %.2f µs per op\n", $3, d / tick / n * 1e6; else printf "  %s: %.4f per op\n", $3, d / n}'
awk -F, -v n="$n" '/^[0-9]/ {printf "  %s: %.3f per op\n", $3, $1 / n}' "$counts"
rm -f "$counts"
