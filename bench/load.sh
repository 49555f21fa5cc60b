#!/usr/bin/env bash
# End-to-end load on loopback: the same route behind each
# middleware in turn, served by the bench_server driver pinned to one core,
# loaded by wrk pinned to the other; the modes alternate within each round,
# and the medians of the rounds are compared with the bare router's.
#
#   bench/load.sh                 # 5 rounds of 5 s per mode
#   ROUNDS=8 SECONDS_EACH=10 bench/load.sh
#   PEERS_COOKIE_ORDER=browser bench/load.sh   # each mode's cookie first in the
#                                   # header, where a browser puts a cookie with a longer path
#   BASELINE=948f2a7 MODES="bare otp" bench/load.sh   # also runs BASELINE_MODES
#                                   # (default "otp") from a build of that revision
#                                   # (base.sh), in the same rounds, labelled
#                                   # otp@948f2a7: an A/B of a change
#   TOGETHER=1 SECONDS_EACH=1 ROUNDS=150 bench/load.sh   # starts every server
#                                   # once, each on its own port (PORT, PORT+1, ...), and
#                                   # cycles the load through them: with no start-up
#                                   # between runs, short slices can alternate many times,
#                                   # which pins a ratio down on a host whose speed drifts
#   RESULTS_CSV=docs/benchmarks.csv bench/load.sh   # also writes the medians
#                                   # (cargo run -p tower-otp-bench --bin plot_benchmarks
#                                   # plots them)
#
# Bounded: ROUNDS x modes x SECONDS_EACH seconds of load, 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
SECONDS_EACH=${SECONDS_EACH:-5}
CONNECTIONS=${CONNECTIONS:-32}
MODES=${MODES:-"bare otp jwt sessions cookies"}
PORT=${PORT:-4077}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
source bench/base.sh
# Each run is "label binary mode".
runs=() baseline_runs=()
if [ -n "${BASELINE:-}" ]; then
  rev=$(BENCH_BASE=$BASELINE base_commit)
  baseline=$(build_at "$rev" bench_server)
  for mode in ${BASELINE_MODES:-otp}; do baseline_runs+=("$mode@${rev:0:7} $baseline $mode"); done
fi
cargo build --quiet --release -p tower-otp-bench --bin bench_server
server=target/release/bench_server
for mode in $MODES; do runs+=("$mode $server $mode"); done
runs+=("${baseline_runs[@]}")
cores=$(nproc)
pin_server=(); pin_load=()
if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0); pin_load=(taskset -c 1)
fi

results=$(mktemp)
pids=()
trap 'rm -f "$results"; kill "${pids[@]}" 2>/dev/null || true' EXIT

# Starts the server of run number $1 on port PORT+$1 and sets `cookies[$1]` to
# the header its verified client sends.
start() {
  local binary mode port out
  read -r _ binary mode <<<"${runs[$1]}"
  port=$((PORT + $1))
  out=$(mktemp)
  "${pin_server[@]}" "$binary" "$mode" "127.0.0.1:$port" >"$out" 2>/dev/null &
  pids[$1]=$!
  for _ in $(seq 100); do grep -q '^COOKIE ' "$out" && break; sleep 0.05; done
  cookies[$1]=$(sed -n 's/^COOKIE //p' "$out")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  rm -f "$out"
}
stop() {
  kill "${pids[$1]}"; wait "${pids[$1]}" 2>/dev/null || true
  unset 'pids[$1]'
}

cookies=()
if [ "${TOGETHER:-}" = 1 ]; then
  for i in "${!runs[@]}"; do start "$i"; done
fi
for round in $(seq "$ROUNDS"); do
  # Each round starts one mode later than the one before, so no mode always
  # follows the same other.
  for k in "${!runs[@]}"; do
    i=$(((k + round) % ${#runs[@]}))
    read -r label _ _ <<<"${runs[$i]}"
    [ "${TOGETHER:-}" = 1 ] || start "$i"
    url="http://127.0.0.1:$((PORT + i))/tickets/A7x9Qz-2026-LIVE"
    report=$("${pin_load[@]}" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" -H "Cookie: ${cookies[$i]}" "$url")
    if grep -q 'Non-2xx' <<<"$report"; then
      echo "$label: some responses were not 200 (the cookie did not pass):" >&2
      echo "$report" >&2
      exit 1
    fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$report")
    echo "$round $label $rps" | tee -a "$results"
    [ "${TOGETHER:-}" = 1 ] || stop "$i"
  done
done

echo
echo "mode       median req/s   ratio of medians   median of round ratios   middle half of round ratios   mean ± standard error   added per request"
# Modes are reported in the order they were asked for (rounds start with
# a different one each time).
labels=$(for run in "${runs[@]}"; do echo "${run%% *}"; done)
python3 - "$results" "${RESULTS_CSV:-}" "$labels" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
by, rounds = {}, {}
for rnd, mode, rps in rows:
    by.setdefault(mode, []).append(float(rps))
    rounds.setdefault(rnd, {})[mode] = float(rps)
bare = statistics.median(by.get("bare", [float("nan")]))
order = sys.argv[3].split()
by = {mode: by[mode] for mode in sorted(by, key=order.index)}
for mode, values in by.items():
    m = statistics.median(values)
    # Each round's ratio to the bare run next to it: drift on a shared host
    # moves both runs of a round, so this is the steadier figure.
    pairs = [(r[mode], r["bare"]) for r in rounds.values() if mode in r and "bare" in r]
    paired = [rps / base for rps, base in pairs]
    pm = statistics.median(paired) if paired else float("nan")
    # The spread of those ratios: how far one run can be trusted.
    q = statistics.quantiles(paired, n=4) if len(paired) >= 2 else [pm, pm, pm]
    # And how well the rounds pin the ratio down: on a noisy host, a bar
    # closer than two standard errors is not decided by the run.
    mean = statistics.mean(paired) if paired else float("nan")
    se = statistics.stdev(paired) / len(paired) ** 0.5 if len(paired) >= 2 else 0.0
    # The time the mode adds to a request, round by round: the figure to
    # hold to "a few microseconds over the bare router".
    added = [1e6 / rps - 1e6 / base for rps, base in pairs]
    am = statistics.median(added) if added else float("nan")
    print(f"{mode:10} {m:12.0f}   {m / bare:14.3f}x   {pm:20.3f}x   {q[0]:13.3f}x - {q[2]:.3f}x   {mean:8.3f}x ± {se:.3f}   {am:+10.3f} µs")
if sys.argv[2]:
    with open(sys.argv[2], "w") as out:
        out.write("mode,median_rps\n")
        for mode, values in by.items():
            out.write(f"{mode},{statistics.median(values):.0f}\n")
PY
