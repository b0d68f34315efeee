#!/usr/bin/env bash
# The full-MyAnimeList scale benchmark (issue 14): generates `mal-full`
# (≈ 325k users × 17.5k anime × 70M rows) once, runs each family's
# experiments/mal-real/<family>.yaml (experiments/mal-full/<family>.yaml
# where there is one: the hybrid) on it with no row limit, loads each
# bundle in anirec-serve, and prints one Markdown row per family: wall time
# and peak RSS of the whole run, fit and evaluation seconds, bundle size,
# server start-up to ready and RSS, and p50/p99 of a known user's top-10
# over 200 sequential requests (curl's time_total, so the client's cost is
# included).
#
# Usage: scripts/scale-bench.sh [families...]     (default: popularity user_knn)
#   a family may carry --set overrides after a colon, comma-separated:
#   mf_bpr:model.epochs=20
#   ANIREC / ANIREC_SERVE: the binaries (default target/release/...)
#   SCALE_DIR: where the data and runs go (default /var/tmp/anirec-scale;
#   about 2 GB of data plus one run folder per family)
# Run it under `nice` on a shared machine and note the load (`uptime`).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${ANIREC:-target/release/anirec}
SERVE=${ANIREC_SERVE:-target/release/anirec-serve}
DIR=${SCALE_DIR:-/var/tmp/anirec-scale}
mkdir -p "$DIR"
[ $# -gt 0 ] || set -- popularity user_knn

if [ ! -f "$DIR/raw/animelist.csv" ]; then
  /usr/bin/time -f "synth: %e s, %M KB peak" "$BIN" data synth --scale mal-full --out "$DIR/raw" >&2
fi

# p50 and p99 (milliseconds) of the numbers on stdin, one per line.
percentiles() {
  sort -n | awk '{v[NR] = $1} END {
    p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)];
    printf "%.1f / %.1f ms", p50 * 1000, p99 * 1000 }'
}

# Starts the server on bundle $1 and asks for the first user of the data;
# prints "ready | RSS | p50 / p99".
serve_figures() {
  local port=$((20000 + RANDOM % 20000)) t0 sp user rss lat
  t0=$(date +%s.%N)
  RUST_LOG=warn "$SERVE" --bundle "$1" --addr "127.0.0.1:$port" --drain-secs 6 --request-timeout-secs 5 & sp=$!
  until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 "$sp" 2>/dev/null || { echo "server exited | – | –"; return; }
    sleep 0.05
  done
  local ready
  ready=$(echo "$(date +%s.%N) - $t0" | bc)
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$sp/status")
  user=$(sed -n 2p "$DIR/raw/animelist.csv" | cut -d, -f1)
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/users/$user/recommendations?k=10")" = 200 ] \
    || { kill -TERM "$sp"; wait "$sp" || true; echo "$ready s | $rss MB | user $user not served"; return; }
  lat=$(for _ in $(seq 200); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$port/v1/users/$user/recommendations?k=10"
  done | percentiles)
  kill -TERM "$sp"; wait "$sp" || true
  printf "%.1f s | %s MB | %s" "$ready" "$rss" "$lat"
}

echo "| family | run wall | peak RSS | fit s | eval s | bundle | serve ready | serve RSS | top-10 p50 / p99 |"
echo "|---|---|---|---|---|---|---|---|---|"
for spec in "$@"; do
  fam=${spec%%:*}
  sets=()
  if [[ $spec == *:* ]]; then
    IFS=, read -ra kv <<<"${spec#*:}"
    for x in "${kv[@]}"; do sets+=(--set "$x"); done
  fi
  # experiments/mal-full/ holds the files written for this scale (the
  # hybrid); every other family runs its real-MAL file.
  exp=experiments/mal-full/$fam.yaml
  [ -f "$exp" ] || exp=experiments/mal-real/$fam.yaml
  [ -f "$exp" ] || { echo "| $fam | no $exp |"; continue; }
  run="$DIR/runs/$fam"
  rm -rf "$run"
  if ! /usr/bin/time -f "%e %M" -o "$DIR/time" "$BIN" run "$exp" --run-dir "$run" \
      --set data.source="$DIR/raw" --set data.cache_dir="$DIR/cache" "${sets[@]}" >"$DIR/$fam.log" 2>&1; then
    echo "| $fam | run failed: $(tail -1 "$DIR/$fam.log") |"; continue
  fi
  read -r wall kb <"$DIR/time"
  read -r fit ev < <(python3 -c "import json;d=json.load(open('$run/summary.json'));print(round(d['fit_seconds'],1),round(d['eval_seconds'],1))")
  bundle=$(du -sh "$run/bundle" | cut -f1)
  printf "| %s | %.0f s | %.2f GB | %s | %s | %s | %s |\n" "$spec" "$wall" "$(echo "$kb / 1048576" | bc -l)" \
    "$fit" "$ev" "$bundle" "$(serve_figures "$run/bundle")"
done
