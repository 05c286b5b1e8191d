# Shared by the benchmark scripts: build in release mode, raise the file limit, and pick the
# CPUs (servers on 0, load generator on 1, so that neither steals the other's core; taskset
# execs the program, so `$!` is the server's own pid, read for its memory and CPU time).
# Set BENCH_NO_BUILD=1 to use the binaries already built.
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    cargo build --release --example bench -p chanx-workspace
    cargo build --release -p chanx-bench --bins
fi
bin="${CARGO_TARGET_DIR:-target}/release"
ulimit -n "$(ulimit -Hn)"
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0="taskset -c 0"; pin1="taskset -c 1"; else pin0=""; pin1=""; fi
