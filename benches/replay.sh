#!/bin/sh
# The whole-process measurement of SPEC §13: a simulated full session
# (09:30–16:00 ET) with a 200-symbol watchlist replayed through the real
# service; prints the simulated/wall and simulated/CPU ratios, peak RSS and
# the API summary.
#
#   benches/replay.sh [DIR]     # DIR keeps the tape between runs (default target/bench)
#
# The tape (made once, ~4.5 minutes, ~780 MB) is the benchmark watchlist of
# `orakl::simulate::benchmark_watchlist`: SPY, QQQ, TSLA and NVDA at
# 5,000–8,000 contracts, AAPL 3,500, 20 names at 2,000–3,500, the rest at
# 200–1,500 (188,000 contracts), seed 7, each chain recorded every 300 s:
# the cadence at which the default timetable (five options bots every 15 s,
# OPTIONS_BATCH=10) reaches each of 200 symbols. The replay uses the
# built-in timetable and POLYGON_RATE_LIMIT (default 5; try 50).
set -eu
cd "$(dirname "$0")/.."
dir=${1:-target/bench}
mkdir -p "$dir"
# Named for what it holds: a tape of the calibrated simulator (real-market
# volumes) with labelled chain members; a tape from before either is another
# day, and is not reused.
tape="$dir/day200-calibrated.tape.gz"
# The tuned profile (fat LTO, one codegen unit; Cargo.toml), as the
# measurements in README "Performance" were made.
cargo build --profile tuned --quiet
if [ ! -s "$tape" ]; then
    cargo bench --profile tuned --quiet --bench perf -- tape "$tape" 300
fi
bin=${CARGO_TARGET_DIR:-target}/tuned/orakl
# Run from the tape's directory: no schedule.cron there, so the built-in
# timetable applies, and no .env is read.
abs_bin=$(cd "$(dirname "$bin")" && pwd)/orakl
cd "$dir"
RUST_LOG=warn,orakl::cli::replay=info /usr/bin/time -v "$abs_bin" replay "$(basename "$tape")" >replay.out 2>replay.err
grep -E 'event=replay_done' replay.err
grep -E 'Maximum resident set size|Elapsed \(wall' replay.err
# Wall time on a shared machine moves with its load: the ratio to CPU time
# (user + sys, all threads) too.
awk -F': ' '/event=replay_done/ { match($0, /simulated_s=[0-9.]+/); span = substr($0, RSTART + 12, RLENGTH - 12) }
    /User time/ { u = $2 } /System time/ { s = $2 }
    END { printf "CPU time: %.1f s (user %.1f + sys %.1f), %.0fx real time per CPU-second\n", u + s, u, s, span / (u + s) }' replay.err
printf 'skipped firings: %s\n' "$(grep -c firing_skipped replay.err || true)"
sed -n '/^summary/,/^  cache/p' replay.out
