#!/usr/bin/env bash
# Search-efficiency benchmark of issue 17 (README "Sweeps", figures):
#   1. random search, TRIALS trials, and TPE (same budget) over an 8-parameter
#      mf_bpr space on the ml-100k validation carve (data.holdout=validation),
#      for each seed in SEEDS: how many trials TPE needs to reach the best
#      validation NDCG@10 of the random sweep;
#   2. the TPE sweep again with ASHA (val_ndcg@10, rungs 1, 3, 9, 27): the
#      epochs it trains against the unpruned sweep, and its best;
#   3. `anirec compare` on two ml-100k runs: wall time.
# Usage: scripts/bench-sweep.sh [OUT_DIR]   (env: SEEDS, TRIALS, EPOCHS, ANIREC)
# Expensive: about TRIALS x 3 x |SEEDS| mf_bpr fits. Everything is written
# under OUT_DIR (default /var/tmp/anirec-bench-sweep); re-running resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="${1:-/var/tmp/anirec-bench-sweep}"
SEEDS="${SEEDS:-1 2 3 4 5}"
TRIALS="${TRIALS:-64}"
EPOCHS="${EPOCHS:-27}"
ANIREC="${ANIREC:-${CARGO_TARGET_DIR:-target}/release/anirec}"
PY="${ANIREC_PYTHON:-/var/tmp/anirec-venv/bin/python}"
mkdir -p "$OUT"
echo "machine: $(nproc) cores; $(uptime)"

exp() { # name method seed extra-sweep-lines
  cat > "$OUT/$1.yaml" <<EOF
name: $1
extends: $ROOT/configs/ml-100k.yaml
runs_dir: $OUT/runs
data: {source: $ROOT/../shared/data/ml-100k, holdout: validation, cache_dir: $OUT/cache}
eval: {k: [10, 20]}
model: {kind: mf_bpr, factors: 32, epochs: $EPOCHS, lr: 0.003, reg: 0.03, batch_size: 1024, min_rating: 0}
sweep:
  method: $2
  trials: $TRIALS
  seed: $3
  metric: ndcg@10
  parallel: 1
$4
  parameters:
    model.factors: {int_uniform: [4, 128]}
    model.lr: {log_uniform: [0.0003, 0.1]}
    model.reg: {log_uniform: [0.000001, 0.1]}
    model.batch_size: [256, 512, 1024, 2048, 4096]
    model.min_rating: [0, 3, 4]
    train.val_ratio: {uniform: [0.05, 0.3]}
    seed: {int_uniform: [0, 1000]}
    eval.block_users: [256, 1024]
EOF
}

# SUMMARY_ONLY=1: only summarise the sweeps already finished (e.g. while
# the full run is still going); unfinished seeds are named, not counted.
[ -n "${SUMMARY_ONLY:-}" ] || for s in $SEEDS; do
  exp "rand-$s" random "$s" ""
  exp "tpe-$s" tpe "$s" "  n_startup_trials: 10"
  exp "asha-$s" tpe "$s" "  n_startup_trials: 10
  early_stop: {kind: asha, metric: val_ndcg@10, min_epochs: 1, reduction_factor: 3}"
  for kind in rand tpe asha; do
    t0=$(date +%s)
    "$ANIREC" sweep "$OUT/$kind-$s.yaml" --sweep-dir "$OUT/sweeps/$kind-$s" > "$OUT/$kind-$s.log" 2>&1 \
      || { echo "$kind-$s failed: see $OUT/$kind-$s.log"; exit 1; }
    echo "$kind seed $s: $(( $(date +%s) - t0 )) s"
  done
done

"$PY" - "$OUT" "$SEEDS" "$TRIALS" "$EPOCHS" <<'EOF'
import json, sys, pathlib
out, seeds, trials, epochs = pathlib.Path(sys.argv[1]), sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4])
def rows(kind, s):
    j = json.load(open(out / "sweeps" / f"{kind}-{s}" / "sweep.json"))
    return sorted(j["rows"], key=lambda r: r["trial"]), j
need, ratio, gap, missing = [], [], [], []
for s in seeds:
    if not all((out / "sweeps" / f"{k}-{s}" / "sweep.json").is_file() for k in ("rand", "tpe", "asha")):
        missing.append(s)
        continue
    r, _ = rows("rand", s)
    best_r = max(x["metrics"].get("ndcg@10", -1) for x in r if x["status"] == "done")
    t, _ = rows("tpe", s)
    run, reach = -1, None
    for i, x in enumerate(t):
        if x["status"] == "done":
            run = max(run, x["metrics"].get("ndcg@10", -1))
        if reach is None and run >= best_r:
            reach = i + 1
    a, aj = rows("asha", s)
    best_t = max(x["metrics"].get("ndcg@10", -1) for x in t if x["status"] == "done")
    # Trials that trained all EPOCHS epochs completed (Ray's max_t); binaries
    # before the fix of prune::report_epoch labelled some of them "pruned".
    best_a = max(x["metrics"].get("ndcg@10", -1) for x in a
                 if x["status"] == "done" or x.get("epochs") == epochs)
    _, tj = rows("tpe", s)
    unpruned = tj.get("epochs_run") or len(t) * epochs
    need.append(reach if reach is not None else float("inf"))
    ratio.append(aj["epochs_run"] / unpruned)
    gap.append(best_t - best_a)
    print(f"seed {s}: random best {best_r:.4f}; TPE reaches it at trial {reach} (best {best_t:.4f}); "
          f"ASHA epochs {aj['epochs_run']} / {unpruned} = {aj['epochs_run']/unpruned:.2f}, best {best_a:.4f} (gap {best_t-best_a:+.4f}); "
          f"pruned {aj['counts'].get('pruned')}")
if missing:
    print(f"seeds not finished, not counted: {' '.join(missing)}")
if not need:
    sys.exit(0)
# A seed where TPE never reaches random's best counts as trials + 1: the
# mean is then a lower bound, and says so.
missed = [s for s, n in zip([s for s in seeds if s not in missing], need) if n == float("inf")]
counted = [n if n != float("inf") else trials + 1 for n in need]
bound = f" (at least: TPE missed on seeds {' '.join(missed)}, counted as {trials + 1})" if missed else ""
print(f"over {len(need)} seeds: TPE trials to reach random's best: mean {sum(counted)/len(counted):.1f}{bound} of {trials} (target <= {trials//2}); "
      f"ASHA epoch ratio mean {sum(ratio)/len(ratio):.2f} (target <= 0.40); ASHA best gap mean {sum(gap)/len(gap):+.4f} (target <= 0.002)")
EOF

# compare: two single runs on the validation carve.
[ -z "${SUMMARY_ONLY:-}" ] || exit 0
R1=$("$ANIREC" run "$OUT/tpe-1.yaml" --set 'model={kind: mf_bpr, factors: 32, epochs: 20, lr: 0.003, reg: 0.03, batch_size: 1024, min_rating: 0}' 2>/dev/null | sed -n 's/^run dir: //p' || true)
R2=$("$ANIREC" run "$OUT/tpe-1.yaml" --set 'model={kind: ease, l2: 200}' 2>/dev/null | sed -n 's/^run dir: //p' || true)
if [ -n "$R1" ] && [ -n "$R2" ]; then
  /usr/bin/time -f "compare wall %e s" "$ANIREC" compare "$R1" "$R2" --metric ndcg@10 --metric recall@10 --out "$OUT/compare"
fi
