#!/usr/bin/env bash
# cargo-deny against deny.toml: licences, banned crates and duplicate
# versions, crate sources; and RustSec advisories when the advisory database
# can be fetched (it is cloned from github.com).
#
# cargo-deny is installed once into a cached root (ANIREC_CARGO_TOOLS,
# default /var/tmp/cargo-tools) with `cargo install --locked`; a cold install
# compiles it (minutes), later runs reuse it.
#
# Advisories need network to github.com. Without it the check runs against
# an advisory database already cached in ~/.cargo/advisory-dbs (saying how
# old it is), and with none cached it is skipped with a loud notice, unless
# ANIREC_REQUIRE_ADVISORIES=1, which makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.20.2
TOOLS="${ANIREC_CARGO_TOOLS:-/var/tmp/cargo-tools}"
DENY="$TOOLS/bin/cargo-deny"
if ! "$DENY" --version 2>/dev/null | grep -qxF "cargo-deny $VERSION"; then
  echo "installing cargo-deny $VERSION into $TOOLS (once per machine)"
  # Its own temporary target dir: not the project's CARGO_TARGET_DIR.
  env -u CARGO_TARGET_DIR cargo install --locked --quiet --root "$TOOLS" "cargo-deny@$VERSION"
fi

"$DENY" deny --locked check licenses bans sources

DBS="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs"
if "$DENY" deny fetch db >/dev/null 2>&1; then
  "$DENY" deny --locked check advisories
elif compgen -G "$DBS/advisory-db-*/.git" >/dev/null; then
  for db in "$DBS"/advisory-db-*/; do
    echo "advisories: github.com unreachable; using the cached database $db (last commit $(git -C "$db" log -1 --format=%cs))"
  done
  "$DENY" deny --offline check advisories
else
  echo "advisories: SKIPPED: the RustSec database cannot be fetched from github.com and none is cached in $DBS" >&2
  [ "${ANIREC_REQUIRE_ADVISORIES:-0}" != 1 ]
fi
