#!/usr/bin/env bash
# The build a user runs (`cargo build --release`, `cargo run --release`) and
# the test build (`cargo test --release`) must share every dependency
# artifact. They do when Cargo resolves each dependency with the same
# features with and without the dev-dependencies; any difference (criterion
# turning on `either/use_std`, axum's `multipart` for the fake Comet server)
# recompiles that crate and everything above it, polars included.
#
# 1. Static: the feature set of every package is the same in both resolves.
# 2. Dynamic (after `cargo test --release`): building the CLI compiles
#    nothing, not even anirec itself.
set -euo pipefail
cd "$(dirname "$0")/.."

features() {
  cargo tree --locked -e "$1" -f '{p}|{f}' --prefix none | sed 's/ (\*)//; s/ (proc-macro)//' | sort -u
}
normal="$(features normal,build)"
with_dev="$(features normal,build,dev)"
# Packages of the normal build whose feature set differs once dev-dependencies join.
diff_lines="$(comm -23 <(echo "$normal") <(echo "$with_dev"))"
if [ -n "$diff_lines" ]; then
  echo "features differ between cargo build and cargo test for:" >&2
  echo "$diff_lines" >&2
  echo "(align them in Cargo.toml, see the comment above the \`either\` dependency)" >&2
  exit 1
fi
echo "feature sets: identical with and without dev-dependencies ($(echo "$normal" | wc -l) packages)"

if [ "${1:-}" = "--after-test" ]; then
  log="$(cargo build --release --locked --bin anirec -v 2>&1)"
  if echo "$log" | grep -E '^\s*Compiling '; then
    echo "cargo build --release recompiled the crates above after cargo test --release" >&2
    exit 1
  fi
  echo "cargo build --release --bin anirec after cargo test --release: $(echo "$log" | grep -c '^\s*Fresh ') crates fresh, none compiled"
fi
