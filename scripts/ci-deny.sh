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
# an advisory database already cached in ~/.cargo/advisory-dbs, warning when
# it is more than a week old; with none cached it is skipped with a loud
# notice, unless ANIREC_REQUIRE_ADVISORIES=1, which makes that a failure.
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
# `fetch db` exits 0 even when github.com is unreachable and an old copy
# exists, so the copy's age is printed and a stale one is called stale.
"$DENY" deny fetch db >/dev/null 2>&1 || true
if compgen -G "$DBS/advisory-db-*/.git" >/dev/null; then
  for db in "$DBS"/advisory-db-*/; do
    last="$(git -C "$db" log -1 --format=%cs 2>/dev/null || echo unknown)"
    age_days=$(( ( $(date +%s) - $(git -C "$db" log -1 --format=%ct 2>/dev/null || echo 0) ) / 86400 ))
    if [ "$age_days" -gt 7 ]; then
      echo "advisories: WARNING: the advisory database $db is $age_days days old (last commit $last); github.com was not reachable to update it" >&2
    else
      echo "advisories: database $db, last commit $last"
    fi
  done
  "$DENY" deny --offline check advisories
else
  echo "advisories: SKIPPED: the RustSec database cannot be fetched from github.com and none is cached in $DBS" >&2
  [ "${ANIREC_REQUIRE_ADVISORIES:-0}" != 1 ]
fi
