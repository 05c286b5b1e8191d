#!/usr/bin/env bash
# The sandbox's memory under a burst of password hashes: starts a release sandbox on a temporary
# SQLite file, registers N users (C at a time) and then logs each of them in, and prints the
# process's resident memory (VmRSS of /proc/PID/status) before, during (the peak, sampled every
# 0.1 s) and after each burst: at once, 5 s and 15 s later (the hashing threads give their memory
# back after 10 s without work).
#
# Run with: cargo build --release -p sandbox && bench/rss_registrations.sh [BINARY] [N] [C]
# (defaults: target/release/sandbox, 200 users, 20 at a time). The login budget per client
# address is raised for the run (AUTH_ATTEMPTS_PER_MINUTE), since every request comes from here.
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-${CARGO_TARGET_DIR:-target}/release/sandbox}"
users="${2:-200}"
at_once="${3:-20}"
addr="127.0.0.1:18093"
password="a long benchmark password"

dir="$(mktemp -d)"
DATABASE_URL="sqlite://$dir/bench.sqlite3" AUTH_ATTEMPTS_PER_MINUTE=1000000 RUST_LOG=warn \
    "$binary" serve --addr "$addr" & pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
until curl -sf -o /dev/null "http://$addr/login"; do sleep 0.1; done

rss() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }

# burst NAME PATH BODY-TEMPLATE: sends the requests ({} is the user's number), samples memory.
burst() {
    local name="$1" path="$2" body="$3" peak=0 now codes started
    codes="$dir/$name.codes"
    started="$(date +%s.%N)"
    seq "$users" | xargs -P "$at_once" -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST \
        -H 'content-type: application/json' -d "$body" "http://$addr$path" > "$codes" & local load=$!
    while kill -0 "$load" 2>/dev/null; do
        now="$(rss)"; [ "$now" -gt "$peak" ] && peak="$now"
        sleep 0.1
    done
    wait "$load"
    local took; took="$(printf "%.1f" "$(echo "$(date +%s.%N) - $started" | bc)")"
    echo "$name: $(sort "$codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')in ${took} s, peak ${peak} MiB, just after $(rss) MiB"
    sleep 5
    echo "$name: 5 s later $(rss) MiB"
    sleep 10
    echo "$name: 15 s later $(rss) MiB"
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $binary, $users users, $at_once at a time"
echo "idle: $(rss) MiB"
burst registrations /api/accounts/registration \
    "{\"email\": \"user{}@example.com\", \"password1\": \"$password\", \"password2\": \"$password\"}"
burst logins /api/accounts/login "{\"email\": \"user{}@example.com\", \"password\": \"$password\"}"
