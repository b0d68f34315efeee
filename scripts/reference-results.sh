#!/usr/bin/env bash
# Reproduces the README's results table: every experiment under
# experiments/ml-100k and experiments/mal-real is run on the reference split
# (../shared/reference/splits, seed 42), its recs.csv is written with
# `anirec recommend` and scored independently by the reference evaluate.py.
# Usage: scripts/reference-results.sh [families...]   (needs python with numpy+pandas: PYTHON=...)
set -euo pipefail
cd "$(dirname "$0")/.."
S=../shared
BIN=${ANIREC:-target/release/anirec}
PY=${PYTHON:-python3}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "| data | model | P@10 | R@10 | NDCG@10 | MAP@10 | HR@10 | coverage | fit s |"
echo "|---|---|---|---|---|---|---|---|---|"
for set in "ml-100k:ml-100k:4" "mal-real:mal2020-real-100k:7"; do
  IFS=: read -r exps data thr <<<"$set"
  for exp in experiments/"$exps"/*.yaml; do
    fam=$(basename "$exp" .yaml)
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $fam " ]]; then continue; fi
    RUST_LOG=warn "$BIN" run "$exp" --set runs_dir="$OUT/runs" \
      --set data.split.kind=external \
      --set data.split.train="$S/reference/splits/$data/train.csv" \
      --set data.split.test="$S/reference/splits/$data/test.csv" >"$OUT/log" 2>&1 || { echo "| $exps | $fam | run failed: $(tail -1 "$OUT/log") |"; continue; }
    run=$(ls -td "$OUT"/runs/*/* | head -1)
    "$BIN" recommend --run "$run" --users all --k 10 --out "$OUT/recs.csv" >/dev/null
    "$PY" "$S/reference/protocol/evaluate.py" "$S/reference/splits/$data/train.csv" "$S/reference/splits/$data/test.csv" "$OUT/recs.csv" --threshold "$thr" >"$OUT/e.json"
    fit=$("$PY" -c "import json;print(round(json.load(open('$run/summary.json'))['fit_seconds'],2))")
    "$PY" -c "
import json; e=json.load(open('$OUT/e.json'))
print('| $exps | $fam | %.4f | %.4f | **%.4f** | %.4f | %.4f | %.3f | $fit |' % (e['precision'], e['recall'], e['ndcg'], e['map'], e['hit_rate'], e['coverage']))"
  done
done
