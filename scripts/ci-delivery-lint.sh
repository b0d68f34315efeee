#!/usr/bin/env bash
# CI checks of the delivery files, offline, each with its ecosystem's tool
# (installed by scripts/ci-tools.sh):
#   Dockerfile   hadolint (every finding fails, info included), checkov, and
#                its cargo build commands must be ones .ci/run runs
#   k8s/         kubernetes-validate --strict against a pinned Kubernetes
#                version, the kustomization's resource list, checkov
#   Jenkinsfile  npm-groovy-lint (CodeNarc) with its Jenkinsfile preset
# Skips are inline next to what they skip, each with its reason.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${ANIREC_TOOLS_DIR:-/var/tmp}"
LINT="$TOOLS/anirec-lint-venv/bin"
CHECKOV="$TOOLS/anirec-checkov-venv/bin/checkov"
GROOVY="$TOOLS/anirec-groovy-lint/node_modules/.bin/npm-groovy-lint"
# GKE's regular release channel at the time of writing; bump with the cluster.
K8S_VERSION=1.34.0
fail=0
check() { # check NAME COMMAND...: runs it, reports, remembers a failure
  local name="$1" t0=$SECONDS; shift
  if "$@"; then echo "-- ok: $name ($((SECONDS - t0)) s)"; else echo "-- FAILED: $name" >&2; fail=1; fi
}

echo "== Dockerfile"
check "hadolint" "$LINT/hadolint" --no-color --failure-threshold info Dockerfile
check "checkov (dockerfile)" "$CHECKOV" -f Dockerfile --framework dockerfile --compact --quiet --skip-download
# No Docker engine here: the image's build steps are shown to work by CI
# running the very same cargo commands.
# The one exception, explained: the `cli` target's build of the anirec binary.
# CI builds and tests that binary through `cargo test --release`; a separate
# `cargo build --bin anirec` resolves features without the dev-dependencies
# and so recompiles polars and most of the tree (8+ minutes on 2 cores).
CLI_BUILD="cargo build --release --locked --bin anirec"
dockerfile_cargo_in_ci() {
  local missing=0 cmd n=0
  while IFS= read -r cmd; do
    n=$((n + 1))
    if grep -qF -- "$cmd" .ci/run; then
      echo "   in .ci/run: $cmd"
    elif [ "$cmd" = "$CLI_BUILD" ]; then
      echo "   built by .ci/run's cargo test --release (explained above): $cmd"
    else
      echo "   NOT in .ci/run: $cmd" >&2; missing=1
    fi
  done < <(grep -oE 'cargo build [^&\\]*[^ &\\]' Dockerfile | sort -u)
  [ "$n" -gt 0 ] || { echo "   no cargo build command found in the Dockerfile" >&2; missing=1; }
  return "$missing"
}
check "Dockerfile cargo commands run by .ci/run" dockerfile_cargo_in_ci
# Files the crate embeds from outside src/ (include_bytes!/include_str!) must
# be copied into the build stage, or the image build fails where CI passes.
embedded_files_copied() {
  "$LINT/python" - <<'PY'
import pathlib, re, sys
docker = pathlib.Path("Dockerfile").read_text()
copied = set(re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", docker, re.M))
bad = 0
for f in pathlib.Path("src").rglob("*.rs"):
    for rel in re.findall(r'include_(?:bytes|str)!\(\s*"([^"]+)"', f.read_text()):
        top = pathlib.Path(*(f.parent / rel).resolve().relative_to(pathlib.Path.cwd().resolve()).parts[:1])
        if str(top) != "src" and str(top) not in copied:
            print(f"   {f} embeds {rel}, but the Dockerfile never copies {top}/", file=sys.stderr)
            bad = 1
sys.exit(bad)
PY
}
check "files embedded from outside src/ are copied into the image build" embedded_files_copied
# cargo reads every target the manifest declares before building anything,
# so the dependency stage must hold each one: stubbed or copied.
manifest_targets_in_deps_stage() {
  "$LINT/python" - <<'PY'
import pathlib, re, sys, tomllib
man = tomllib.loads(pathlib.Path("Cargo.toml").read_text())
paths = ["src/lib.rs"]
for kind, default in (("bin", "src/bin/{}.rs"), ("bench", "benches/{}.rs"),
                      ("example", "examples/{}.rs"), ("test", "tests/{}.rs")):
    for t in man.get(kind, []):
        paths.append(t.get("path") or default.format(t["name"]))
docker = pathlib.Path("Dockerfile").read_text()
deps = docker[docker.index(" AS deps"):]
deps = deps[:deps.index("\nFROM ")]
copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", deps, re.M)
bad = 0
for p in paths:
    if p in deps or any(p == c or p.startswith(c.rstrip("/") + "/") for c in copied):
        continue
    print(f"   Cargo.toml target {p} is neither stubbed nor copied in the Dockerfile's deps stage", file=sys.stderr)
    bad = 1
sys.exit(bad)
PY
}
check "every Cargo.toml target exists in the Dockerfile's dependency stage" manifest_targets_in_deps_stage

echo "== Kubernetes manifests"
mapfile -t manifests < <(find k8s -name '*.yaml' ! -name kustomization.yaml | sort)
check "kubernetes-validate --strict (Kubernetes $K8S_VERSION)" \
  "$LINT/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${manifests[@]}"
kustomization_lists_everything() {
  "$LINT/python" - <<'PY'
import pathlib, sys, yaml
k = yaml.safe_load(open("k8s/kustomization.yaml"))
listed = set(k["resources"])
present = {p.name for p in pathlib.Path("k8s").glob("*.yaml")} - {"kustomization.yaml"}
missing = sorted(r for r in listed if not (pathlib.Path("k8s") / r).is_file())
unlisted = sorted(present - listed)
for r in missing: print(f"   listed but missing: k8s/{r}", file=sys.stderr)
for r in unlisted: print(f"   not listed in k8s/kustomization.yaml: k8s/{r}", file=sys.stderr)
sys.exit(1 if missing or unlisted else 0)
PY
}
check "kustomization lists every manifest" kustomization_lists_everything
check "checkov (kubernetes)" "$CHECKOV" -d k8s --framework kubernetes --compact --quiet --skip-download

echo "== Jenkinsfile"
# --noserver: no CodeNarc server left running after CI.
check "npm-groovy-lint" "$GROOVY" --noserver --failon info --config .groovylintrc.json Jenkinsfile

exit "$fail"
