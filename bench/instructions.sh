#!/usr/bin/env bash
# Instructions the layer adds to a verified request over the bare router,
# counted by callgrind on the `verified_path` driver (src/bin/verified_path.rs).
# Unlike requests per second, the count repeats whatever else the machine
# does, so CI can compare it:
#
#   bench/instructions.sh              # prints the counts of the working tree
#   HOT_CODE=1 bench/instructions.sh   # also counts the 64-byte lines of code
#                                      # each request runs (hot_code.py)
#   CHECK=1 bench/instructions.sh      # counts both, for the working tree and
#                                      # for the base commit, and fails when a
#                                      # mode adds more than the base did
#                                      # plus TOLERANCE percent (default 10)
#   BENCH_BASE=<rev> CHECK=1 bench/instructions.sh   # another base
#
# The base is the commit named in bench/BASE, built in a git worktree under
# target/ in the same run (base.sh), so both counts come from the same
# toolchain and machine. When a change lands, bench/BASE moves forward to it: each change
# is judged against the code before it. The lines of code are reported for
# both but never fail the check: they move with a build's layout.
#
# Both counts matter end to end: between two requests the kernel's network
# path evicts the server's code from the first-level cache, so each line of
# code a request runs is fetched again (BENCHMARKS.md, "Method").
#
# Each count is (I(3000) - I(1000)) / 2000: the set-up cancels out.
set -euo pipefail
# Command substitutions keep `set -e`: a failure inside `$(...)` stops the
# script instead of turning into an empty count.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
source bench/base.sh

command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
TOLERANCE=${TOLERANCE:-10}
[ "${CHECK:-}" = 1 ] && HOT_CODE=1

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

# count BIN MODE N: the instructions of N requests, set-up included.
count() {
  local out total
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" "$2" "$3" 2>&1) ||
    fail "$2 $3: the driver failed under valgrind:"$'\n'"$(tail -n 20 <<<"$out")"
  total=$(sed -n 's/.*Collected : //p' <<<"$out")
  positive "$2 $3 instructions" "$total"
}
per_request() {
  local few many
  few=$(count "$1" "$2" 1000)
  many=$(count "$1" "$2" 3000)
  [ "$many" -gt "$few" ] || fail "$2: 3000 requests counted no more than 1000 ($many <= $few)"
  positive "$2 per request" $(((many - few) / 2000))
}

# The cache lines of code a request runs: the code it runs every time,
# from a profile of 3000 requests.
hot_lines() {
  local profile lines
  profile=$(mktemp)
  if valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$profile" "$1" "$2" 3000 >/dev/null 2>&1 &&
    lines=$(python3 bench/hot_code.py "$profile" 3000); then
    rm -f "$profile"
  else
    rm -f "$profile"
    fail "$2: no profile of its lines of code"
  fi
  positive "$2 lines of code" "$lines"
}

# measure LABEL BIN: prints, and sets added[MODE] and lines[MODE] to, what
# `otp` (route_layer + PathParam) and `pattern` (.layer + a path pattern)
# add over the bare router.
declare -A added lines
measure() {
  local label=$1 bin=$2 bare bare_lines per mode_lines
  bare=$(per_request "$bin" bare)
  echo "$label: bare router: $bare instructions per request"
  if [ "${HOT_CODE:-}" = 1 ]; then
    bare_lines=$(hot_lines "$bin" bare)
    echo "$label: bare router: $bare_lines lines of code per request"
  fi
  for mode in otp pattern; do
    per=$(per_request "$bin" "$mode")
    added[$label/$mode]=$((per - bare))
    # A layer that adds nothing is a driver that does not reach it.
    [ "${added[$label/$mode]}" -gt 0 ] ||
      fail "$label $mode: adds ${added[$label/$mode]} instructions to the bare router: is the layer in the app?"
    echo "$label: $mode: +${added[$label/$mode]} instructions per verified request"
    if [ "${HOT_CODE:-}" = 1 ]; then
      mode_lines=$(hot_lines "$bin" "$mode")
      lines[$label/$mode]=$((mode_lines - bare_lines))
      [ "${lines[$label/$mode]}" -gt 0 ] ||
        fail "$label $mode: adds ${lines[$label/$mode]} lines of code to the bare router: is the layer in the app?"
      echo "$label: $mode: +${lines[$label/$mode]} lines of code per verified request"
    fi
  done
}

cargo build --quiet --release -p tower-otp-bench --bin verified_path
measure head target/release/verified_path
[ "${CHECK:-}" = 1 ] || exit 0

base=$(base_commit)
base_bin=$(build_at "$base" verified_path)
echo "base: $base"
measure base "$base_bin"
status=0
echo
for mode in otp pattern; do
  now=${added[head/$mode]} was=${added[base/$mode]}
  limit=$((was + was * TOLERANCE / 100))
  echo "$mode: +$now instructions against +$was at the base ($((now - was)) more; at most +$limit)," \
    "+${lines[head/$mode]} lines of code against +${lines[base/$mode]}"
  if [ "$now" -gt "$limit" ]; then
    echo "$mode: adds more than ${TOLERANCE}% over the base; see BENCHMARKS.md for what the verified path costs" >&2
    status=1
  fi
done
exit "$status"
