#!/usr/bin/env bash
# Load, shutdown and start-up figures for anirec-serve on a MAL-scale synthetic
# bundle (17,000 anime x 128 dims, 50,000 users, 100 rated anime each).
# Loopback only (127.0.0.1); bounded runs. Needs wrk (apt-get install -y wrk).
# Usage: scripts/serve-load.sh [DURATION_SECS] [CONNECTIONS] [THREADS]
# ANIREC_SERVE_BIN=path runs another build (e.g. an older one, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
D=${1:-20}; C=${2:-32}; T=${3:-2}
BIN="${ANIREC_SERVE_BIN:-$CARGO_TARGET_DIR/release/anirec-serve}"
B=${BUNDLE:-/tmp/anirec-mal-scale-bundle}
cargo build --release --no-default-features --features serve --bin anirec-serve --example synth_bundle
[ -f "$B/manifest.json" ] || "$CARGO_TARGET_DIR/release/examples/synth_bundle" "$B"
du -sh "$B"; ls -l "$BIN"; echo "load: $(uptime)"
PORT=18080; U="http://127.0.0.1:$PORT"
LUA=$(mktemp --suffix .lua)
cat > "$LUA" <<'L'
-- random known users (ids 1..50000), hybrid top-10
math.randomseed(42)
request = function() return wrk.format("GET", "/v1/users/" .. math.random(1, 50000) .. "/recommendations?k=10&mode=hybrid") end
L

# Start-up to ready.
t0=$(date +%s.%N)
RUST_LOG=warn "$BIN" --bundle "$B" --addr 127.0.0.1:$PORT --drain-secs 6 --request-timeout-secs 5 --max-concurrency 1024 & SP=$!
until curl -fs "$U/readyz" >/dev/null 2>&1; do sleep 0.01; done
t1=$(date +%s.%N); echo "start-up to ready: $(echo "$t1 - $t0" | bc) s"

# Throughput and latency, and memory before/after.
rss() { awk '/VmRSS/{print $2" kB"}' /proc/$SP/status; }
echo "RSS before: $(rss)"
wrk -t"$T" -c"$C" -d5s --latency -s "$LUA" "$U" >/dev/null   # warm-up
echo "RSS after warm-up: $(rss)"
wrk -t"$T" -c"$C" -d"${D}s" --latency -s "$LUA" "$U"
echo "RSS after ${D}s: $(rss)"
wrk -t"$T" -c"$C" -d"${D}s" --latency -s "$LUA" "$U" | grep -E 'Requests/sec|99%|Non-2xx|errors'
echo "RSS after $((2 * D))s: $(rss)"

# SIGTERM mid-load: wrk runs 4 s, SIGTERM after 1 s, drain window 6 s.
wrk -t"$T" -c"$C" -d4s --latency -s "$LUA" "$U" > /tmp/anirec-wrk-term.txt & WP=$!
sleep 1; kill -TERM $SP
curl -s -o /dev/null -w 'readyz during drain: %{http_code}\n' "$U/readyz"
wait $WP; cat /tmp/anirec-wrk-term.txt | grep -E 'requests in|Requests/sec|Non-2xx|Socket errors' || true
grep -q -E 'Non-2xx|Socket errors' /tmp/anirec-wrk-term.txt && echo "FAILED REQUESTS DURING SHUTDOWN" || echo "zero failed requests during SIGTERM"
wait $SP; echo "server exit status: $?"
rm -f "$LUA"
echo "load: $(uptime)"
