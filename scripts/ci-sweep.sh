#!/usr/bin/env bash
# CI step of the sweep/compare work (issue 17): scipy in the venv, for the
# test that cross-checks `anirec compare`'s t-test and Wilcoxon p-values
# against scipy.stats (src/compare/tests.rs; it prints SKIPPED without it).
set -euo pipefail
VENV="${ANIREC_VENV:-/var/tmp/anirec-venv}"
if ! "$VENV/bin/python" -c "import scipy.stats" 2>/dev/null; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "scipy==1.17.*"
fi
