#!/usr/bin/env bash
# Instructions the layer adds to a verified request over the bare router,
# counted by callgrind on examples/verified_path.rs. Unlike
# requests per second, the count repeats whatever else the machine does,
# so it can hold a budget in CI:
#
#   scripts/instructions.sh            # prints the counts
#   HOT_CODE=1 scripts/instructions.sh # also counts the 64-byte lines of code
#                                      # each request runs (scripts/hot_code.py)
#   CHECK=1 scripts/instructions.sh    # counts both, and fails when a mode is
#                                      # over either budget
#
# Both counts matter end to end: between two requests the kernel's network
# path evicts the server's code from the first-level cache, so each line of
# code a request runs is fetched again (BENCHMARKS.md, "What instructions do
# not explain"). Measured on 2026-11-30 over 100 alternating rounds (the
# `spin` mode against `noop`, `otp` and `pattern`), 1,000 instructions cost
# about 1.4% of the bare router's requests per second, and 100 lines of code
# 0.5-1%.
#
# Each count is (I(3000) - I(1000)) / 2000: the set-up cancels out.
set -euo pipefail
# Command substitutions keep `set -e`: a failure inside `$(...)` stops the
# script instead of turning into an empty count.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
# The features .ci/run builds the bench examples with, so CI builds nothing twice.
cargo build --quiet --release --all-features --example verified_path
bin=target/release/examples/verified_path

fail() {
  echo "instructions.sh: $*" >&2
  exit 1
}

# A figure is only used when it is a positive whole number: a driver that
# panics, or a valgrind that prints no total, stops the script.
positive() {
  [[ "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || fail "$1: no count (got '${2}')"
  echo "$2"
}

count() {
  local out total
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1) ||
    fail "$1 $2: the driver failed under valgrind:"$'\n'"$(tail -n 20 <<<"$out")"
  total=$(sed -n 's/.*Collected : //p' <<<"$out")
  positive "$1 $2 instructions" "$total"
}
per_request() {
  local few many
  few=$(count "$1" 1000)
  many=$(count "$1" 3000)
  [ "$many" -gt "$few" ] || fail "$1: 3000 requests counted no more than 1000 ($many <= $few)"
  positive "$1 per request" $(((many - few) / 2000))
}

# The cache lines of code a request runs: the code it runs every time,
# from a profile of 3000 requests.
hot_lines() {
  local profile lines
  profile=$(mktemp)
  if valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$profile" "$bin" "$1" 3000 >/dev/null 2>&1 &&
    lines=$(python3 scripts/hot_code.py "$profile" 3000); then
    rm -f "$profile"
  else
    rm -f "$profile"
    fail "$1: no profile of its lines of code"
  fi
  positive "$1 lines of code" "$lines"
}

bare=$(per_request bare)
echo "bare router: $bare instructions per request"
[ "${CHECK:-}" = 1 ] && HOT_CODE=1
if [ "${HOT_CODE:-}" = 1 ]; then
  bare_lines=$(hot_lines bare)
  echo "bare router: $bare_lines lines of code per request"
fi
status=0
# mode, instruction budget and line budget: what the layer adds over the bare
# router. Measured on 2026-11-30: +4,436 instructions and +247 lines
# (route_layer + PathParam), +4,349 and +233 (.layer + path pattern). The
# budgets leave ~7% for toolchain and CPU differences and for what a build's
# layout moves the counts (~60 instructions, ~5 lines).
for spec in "otp 4750 265" "pattern 4700 250"; do
  read -r mode budget line_budget <<<"$spec"
  per=$(per_request "$mode")
  added=$((per - bare))
  # A layer that adds nothing is a driver that does not reach it.
  [ "$added" -gt 0 ] || fail "$mode: adds $added instructions to the bare router: is the layer in the app?"
  echo "$mode: +$added instructions per verified request (budget $budget)"
  if [ "${CHECK:-}" = 1 ] && [ "$added" -gt "$budget" ]; then
    echo "$mode: over its instruction budget; see BENCHMARKS.md for what the verified path costs" >&2
    status=1
  fi
  if [ "${HOT_CODE:-}" = 1 ]; then
    mode_lines=$(hot_lines "$mode")
    lines=$((mode_lines - bare_lines))
    [ "$lines" -gt 0 ] || fail "$mode: adds $lines lines of code to the bare router: is the layer in the app?"
    echo "$mode: +$lines lines of code per verified request (budget $line_budget)"
    if [ "${CHECK:-}" = 1 ] && [ "$lines" -gt "$line_budget" ]; then
      echo "$mode: over its budget of lines of code; see BENCHMARKS.md for what they cost end to end" >&2
      status=1
    fi
  fi
done
exit "$status"
