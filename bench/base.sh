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

# build_at REV BIN: builds the release binary BIN at commit REV in a git
# worktree under target/bench-base/ (removed afterwards, also on failure),
# sharing target/ so the dependencies are built once, and copies it to
# target/bench-base/BIN-REV, whose path it prints. Before the bench crate,
# the drivers were examples of the root package, built with every feature.
build_at() {
  local rev=$1 bin=$2 root=$PWD tree out
  tree=target/bench-base/tree-$rev
  out=target/bench-base/$bin-$rev
  mkdir -p target/bench-base
  # What an interrupted run left.
  git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
  git worktree prune
  git worktree add --detach --force "$tree" "$rev" >/dev/null 2>&1 ||
    { echo "base.sh: cannot check out $rev" >&2; return 1; }
  local status=0
  if [ -f "$tree/bench/Cargo.toml" ]; then
    (cd "$tree" && CARGO_TARGET_DIR="$root/target" cargo build --quiet --release -p tower-otp-bench --bin "$bin") &&
      cp target/release/"$bin" "$out" || status=$?
  else
    (cd "$tree" && CARGO_TARGET_DIR="$root/target" cargo build --quiet --release --all-features --example "$bin") &&
      cp target/release/examples/"$bin" "$out" || status=$?
  fi
  git worktree remove --force "$tree"
  [ "$status" = 0 ] || { echo "base.sh: $bin does not build at $rev" >&2; return "$status"; }
  echo "$out"
}
