#!/usr/bin/env bash
# Live checks of anirec-serve with its ecosystems' own tools (issue 15 §4),
# against a server on 127.0.0.1 serving a small synthetic bundle:
#   /metrics       promtool check metrics (Prometheus' linter; Debian package
#                  `prometheus`, installed with apt-get when missing)
#   OpenAPI        docs/openapi.json validated by openapi-spec-validator; the
#                  server's /openapi.json must be that file
#   the API        schemathesis against the live server, bounded cases: every
#                  response must match the document and none may be a 5xx
# Python tools are pinned and cached in a venv under /var/tmp.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/anirec-target}"
VENV="${ANIREC_TOOLS_DIR:-/var/tmp}/anirec-serve-check-venv"
PINS="schemathesis==4.32.5 openapi-spec-validator==0.9.0"
MAX_EXAMPLES="${ANIREC_SCHEMATHESIS_EXAMPLES:-25}"

if ! command -v promtool >/dev/null 2>&1; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
fi
if [ "$(cat "$VENV/.anirec-installed" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # PINS is a list of requirements
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  echo "$PINS" > "$VENV/.anirec-installed"
fi

# The serve-only build .ci/run makes anyway; the example writes the bundle.
cargo build --release --locked --no-default-features --features serve --bin anirec-serve --example synth_bundle
T="$(mktemp -d)"
SP=""
trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; rm -rf "$T"' EXIT
"$CARGO_TARGET_DIR/release/examples/synth_bundle" "$T/bundle" 300 200 16 10
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/token"
PORT=$((20000 + RANDOM % 20000)); B="http://127.0.0.1:$PORT"
RUST_LOG=warn "$CARGO_TARGET_DIR/release/anirec-serve" --bundle "$T/bundle" --addr "127.0.0.1:$PORT" \
  --drain-secs 0 --admin-token-file "$T/token" > "$T/serve.log" 2>&1 &
SP=$!
for _ in $(seq 100); do curl -fs "$B/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$B/readyz" >/dev/null || { cat "$T/serve.log" >&2; echo "anirec-serve did not become ready" >&2; exit 1; }

echo "== OpenAPI document: openapi-spec-validator, and /openapi.json is docs/openapi.json"
"$VENV/bin/openapi-spec-validator" docs/openapi.json
curl -fs "$B/openapi.json" > "$T/served.json"
cmp -s "$T/served.json" docs/openapi.json || { echo "/openapi.json differs from docs/openapi.json" >&2; exit 1; }

echo "== schemathesis: every response matches docs/openapi.json, no 5xx ($MAX_EXAMPLES examples per operation)"
# With the admin token, so POST /admin/reload is exercised too (each call
# reloads the small bundle). Run from the temp dir: it writes a .schemathesis/ cache.
(cd "$T" && "$VENV/bin/schemathesis" run "$B/openapi.json" --url "$B" -H "Authorization: Bearer $(cat "$T/token")" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" --seed 1 --request-timeout 10 --no-color)

echo "== promtool check metrics on the live /metrics (after the traffic above)"
curl -fs "$B/metrics" > "$T/metrics.txt"
promtool check metrics < "$T/metrics.txt"
for m in anirec_http_requests_total anirec_http_request_duration_seconds anirec_http_requests_in_flight \
         anirec_build_info anirec_reloads_total process_cpu_seconds_total process_resident_memory_bytes \
         process_open_fds process_start_time_seconds; do
  grep -q "^# TYPE $m " "$T/metrics.txt" || { echo "metric $m missing from /metrics" >&2; exit 1; }
done

echo "== k8s/podmonitoring.yaml: PodMonitoring schema (the fields the CRD defines that we use) and it scrapes the Deployment's port and this /metrics"
# kubernetes-validate has no schema for this CRD (it only warns), so the
# manifest is checked here against the CRD's constraints on the fields we use.
"$VENV/bin/python" - k8s/podmonitoring.yaml k8s/deployment.yaml <<'PY'
import sys, yaml, jsonschema
pm = yaml.safe_load(open(sys.argv[1]))
dep = yaml.safe_load(open(sys.argv[2]))
duration = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
label_map = {"type": "object", "additionalProperties": {"type": "string"}}
schema = {
  "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
  "properties": {
    "apiVersion": {"const": "monitoring.googleapis.com/v1"}, "kind": {"const": "PodMonitoring"},
    "metadata": {"type": "object", "required": ["name", "namespace"],
                 "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}, "labels": label_map}},
    "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
      "properties": {
        "selector": {"type": "object", "additionalProperties": False,
                     "properties": {"matchLabels": label_map, "matchExpressions": {"type": "array"}}},
        "endpoints": {"type": "array", "minItems": 1, "items": {
          "type": "object", "required": ["port"], "additionalProperties": False,
          "properties": {"port": {"type": ["string", "integer"]}, "path": {"type": "string", "pattern": "^/"},
                         "scheme": {"enum": ["http", "https"]},
                         "interval": {"type": "string", "pattern": duration},
                         "timeout": {"type": "string", "pattern": duration}}}},
        "targetLabels": {"type": "object"}, "limits": {"type": "object"}}}}}
jsonschema.validate(pm, schema)
def secs(d):
    import re
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * unit[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", d))
pod = dep["spec"]["template"]
assert pm["metadata"]["namespace"] == dep["metadata"]["namespace"], "PodMonitoring in another namespace"
for k, v in pm["spec"]["selector"]["matchLabels"].items():
    assert pod["metadata"]["labels"].get(k) == v, f"selector {k}={v} matches no pod of the Deployment"
ports = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
for e in pm["spec"]["endpoints"]:
    assert e["port"] in ports, f"port {e['port']} is not a container port of the Deployment ({ports})"
    assert e.get("path", "/metrics") == "/metrics", "anirec-serve serves its metrics at /metrics"
    if "timeout" in e and "interval" in e:
        assert secs(e["timeout"]) <= secs(e["interval"]), "scrape timeout longer than the interval"
print("PodMonitoring ok")
PY

kill -TERM "$SP"; wait "$SP"; SP=""
echo "serve checks passed"
