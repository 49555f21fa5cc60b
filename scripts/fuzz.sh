#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ one after another, each for a fixed time.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 600 (10 minutes per target); TARGETs default to all of
# them (`cargo fuzz list`). Examples:
#
#   scripts/fuzz.sh                    # every target, 10 minutes each
#   scripts/fuzz.sh 120 service        # the whole-service target for 2 minutes
#   FUZZ_JOBS=1 nice -n 19 scripts/fuzz.sh 600 email_address
#
# What it does:
# - installs `cargo-fuzz` from crates.io when it is missing;
# - uses the nightly toolchain when rustup has one, else stable with
#   RUSTC_BOOTSTRAP=1 (cargo-fuzz passes nightly-only flags);
# - uses AddressSanitizer when the toolchain ships its runtime, else
#   `--sanitizer none`;
# - grows fuzz/corpus/<target>/ (ignored by git) from the committed seeds in
#   fuzz/seeds/<target>/, writes crashes to fuzz/artifacts/<target>/, and a
#   log per target to fuzz/logs/<target>.log;
# - prints each target's total executions (libFuzzer's last `#N` stats line)
#   and exits non-zero if any target crashed.
#
# Reproduce a crash:   cd fuzz && cargo +nightly fuzz run <target> artifacts/<target>/crash-…
# Shrink it:           cd fuzz && cargo +nightly fuzz tmin <target> artifacts/<target>/crash-…
# Not part of CI (.ci/run): fuzzing is open-ended; the property tests in
# tests/properties.rs cover the same parsers on every CI run.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-600}"
shift || true

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

sanitizer=()
sysroot="$(rustc "${toolchain[@]}" --print sysroot)"
if ! ls "$sysroot"/lib/rustlib/*/lib/*rt.asan* >/dev/null 2>&1; then
  sanitizer=(--sanitizer none)
fi

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list)
fi

cargo "${toolchain[@]}" fuzz build "${sanitizer[@]}"

mkdir -p logs
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "seeds/$target"
  log="logs/$target.log"
  echo "== $target: ${seconds}s"
  status=0
  cargo "${toolchain[@]}" fuzz run "${sanitizer[@]}" "$target" "corpus/$target" "seeds/$target" \
    -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs="$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')"
  echo "   executions: ${execs:-0}, exit: $status (log: fuzz/$log)"
  if [ "$status" -ne 0 ]; then
    failed=1
    grep -E 'panicked|ERROR|Test unit written' "$log" | head -5 || true
  fi
done
exit "$failed"
