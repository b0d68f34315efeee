#!/usr/bin/env bash
# CI check of the DVC pipeline (dvc.yaml) with real DVC, offline: in a temp
# copy of the repo's pipeline files, on small synthetic MAL-format data,
#  1. `dvc add` the raw data and `dvc repro` the pipeline,
#  2. `dvc metrics show`, `dvc push` to a local-directory remote,
#  3. wipe the cache and every output, `dvc pull`, compare sha256 of all files,
#  4. a second `dvc repro` runs nothing,
#  5. `dvc exp run -S` with a changed eval param reruns train, report and
#     promote, never ingest or process; `dvc exp show` lists it.
#
#   ANIREC_BIN_DIR=<dir with anirec> DVC=<dvc executable> scripts/ci-dvc.sh
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
BIN_DIR="${ANIREC_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}"
DVC="${DVC:-/var/tmp/anirec-dvc-venv/bin/dvc}"
[ -x "$BIN_DIR/anirec" ] || { echo "no anirec binary in $BIN_DIR (build it, or set ANIREC_BIN_DIR)" >&2; exit 1; }
[ -x "$DVC" ] || { echo "no dvc at $DVC (scripts/ci-tools.sh dvc installs it)" >&2; exit 1; }
export PATH="$BIN_DIR:$PATH" DVC_NO_ANALYTICS=1 RUST_LOG=warn

T="$(mktemp -d /var/tmp/anirec-dvc-check.XXXXXX)"
trap 'rm -rf "$T"' EXIT
# DVC's per-repo state databases (default /var/tmp/dvc/repo/<hash>) go with
# the temp repo instead of piling up, one per CI run.
export DVC_SITE_CACHE_DIR="$T/dvc-site-cache"
W="$T/repo"
mkdir -p "$W"
# Only the files the pipeline reads: DVC hashes the workspace, and a copy of
# target/ or runs/ would only cost time.
(cd "$REPO" && tar cf - dvc.yaml .dvc/config .dvc/.gitignore .dvcignore .gitignore experiments/dvc) | tar xf - -C "$W"
cd "$W"
step() { echo "-- dvc-check: $*"; }
git init -q
git config user.email ci@anirec.invalid
git config user.name "anirec CI"

step "raw data: anirec data synth + dvc add"
anirec data synth --out data/raw/mal --users 400 --anime 300 --rows 40000 --seed 7 >/dev/null
"$DVC" add -q data/raw/mal
git add -A && git commit -qm "pipeline + raw data pointer"

step "dvc repro"
"$DVC" repro 2>&1 | tee "$T/repro1.log"
for s in ingest process train report promote; do
  grep -q "Running stage '$s'" "$T/repro1.log" || { echo "stage $s did not run" >&2; exit 1; }
done
for f in reports/dvc/report.md models/promoted/PROMOTED.json models/promoted/manifest.json; do
  test -s "$f" || { echo "$f is missing or empty after dvc repro" >&2; exit 1; }
done
git add -A && git commit -qm "dvc.lock + metrics"

step "dvc metrics show"
"$DVC" metrics show --md > "$T/metrics.log" 2>&1 || { cat "$T/metrics.log" >&2; exit 1; }
grep -q "ndcg@10" "$T/metrics.log" || { cat "$T/metrics.log" >&2; echo "dvc metrics show has no ndcg@10" >&2; exit 1; }
echo "dvc metrics show: $(head -1 "$T/metrics.log" | tr '|' '\n' | grep -c @) metrics, ndcg@10 among them"

# Everything DVC restores: the raw data and every stage output.
OUTS=(data/raw/mal data/split data/processed data/stats.txt runs/dvc/train reports/dvc models/promoted)
manifest() { find "${OUTS[@]}" -type f -print0 | sort -z | xargs -0 sha256sum; }
manifest > "$T/before.sha256"
echo "$(wc -l < "$T/before.sha256") files hashed"

step "dvc push to a local-directory remote"
# Made the default in the untracked .dvc/config.local (as a developer would
# override the shared GCS default): without the dvc-gs plugin DVC cannot
# even instantiate the gs:// remote, and `dvc pull` touches the default one.
"$DVC" remote add --local --default ci "$T/remote"
"$DVC" push -r ci

step "wipe cache and outputs, dvc pull"
rm -rf .dvc/cache "${OUTS[@]}"
"$DVC" pull -r ci
manifest > "$T/after.sha256"
if ! diff -u "$T/before.sha256" "$T/after.sha256"; then
  echo "pulled outputs differ from the pushed ones" >&2; exit 1
fi
echo "all $(wc -l < "$T/after.sha256") files byte-identical after pull"

step "second dvc repro runs nothing"
"$DVC" repro 2>&1 | tee "$T/repro2.log"
if grep -q "Running stage" "$T/repro2.log" || ! grep -qi "up to date" "$T/repro2.log"; then
  echo "second dvc repro was not a no-op" >&2; exit 1
fi

step "dvc exp run with a changed eval param reruns train only"
"$DVC" exp run -S 'experiments/dvc/train.yaml:eval.k=[5,10]' 2>&1 | tee "$T/exp.log"
grep -q "Running stage 'train'" "$T/exp.log" || { echo "train did not rerun" >&2; exit 1; }
if grep -qE "Running stage '(ingest|process)'" "$T/exp.log"; then
  echo "a data stage reran although only an eval param changed" >&2; exit 1
fi
"$DVC" exp show --no-pager --md --drop '.*' --keep '^(Experiment|ndcg@10|eval\.k)$' 2>&1 | tee "$T/expshow.log"
grep -q "ndcg@10" "$T/expshow.log" || { echo "dvc exp show lacks ndcg@10" >&2; exit 1; }
step "ok"
