# Sourced by instructions.sh and load.sh (from the repository's root):
# builds a driver of the bench crate at another commit, for an A/B in the
# same run on the same machine.

# The commit to compare with: BENCH_BASE when set, else the one named in
# bench/BASE (moved forward whenever a change lands).
base_commit() {
  local rev=${BENCH_BASE:-$(grep -v '^#' bench/BASE | head -n 1)}
  git rev-parse --verify --quiet "$rev^{commit}" || {
    echo "base.sh: no commit '$rev' (BENCH_BASE or bench/BASE)" >&2
    return 1
  }
}

# build_at REV BIN: builds the release binary BIN at commit REV and prints
# the path of a copy of it, target/bench-base/BIN-REV-TOOLCHAIN (kept, so
# the next run with the same commit and toolchain builds nothing).
#
# The checkout is a git worktree at target/bench-base/tree, removed
# afterwards, built into a target directory of its own
# (target/bench-base/target): cargo knows a workspace's own crate by its
# path inside the workspace, so two checkouts sharing one target directory
# would take each other's builds for fresh. Before the bench crate, the
# drivers were examples of the root package, built with every feature.
build_at() {
  local rev=$1 bin=$2 tree=target/bench-base/tree target=$PWD/target/bench-base/target
  local out toolchain status=0
  toolchain=$({ rustc -vV; echo "${RUSTFLAGS:-}"; } | sha256sum | cut -c1-12)
  out=target/bench-base/$bin-$rev-$toolchain
  [ -x "$out" ] && { echo "$out"; return; }
  mkdir -p target/bench-base
  # What an interrupted run left.
  git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  git worktree prune
  git worktree add --detach --force "$tree" "$rev" >/dev/null 2>&1 ||
    { echo "base.sh: cannot check out $rev" >&2; return 1; }
  # The base's own warnings are not this run's business: its output is
  # shown only when it does not build.
  local log=target/bench-base/build.log
  if [ -f "$tree/bench/Cargo.toml" ]; then
    (cd "$tree" && CARGO_TARGET_DIR=$target cargo build --quiet --release -p tower-otp-bench --bin "$bin") >"$log" 2>&1 &&
      cp "$target/release/$bin" "$out" || status=$?
  else
    (cd "$tree" && CARGO_TARGET_DIR=$target cargo build --quiet --release --all-features --example "$bin") >"$log" 2>&1 &&
      cp "$target/release/examples/$bin" "$out" || status=$?
  fi
  git worktree remove --force "$tree"
  if [ "$status" != 0 ]; then
    tail -n 30 "$log" >&2
    echo "base.sh: $bin does not build at $rev" >&2
    return "$status"
  fi
  echo "$out"
}
