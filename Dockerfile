# syntax=docker/dockerfile:1
# anirec images (no Docker engine is needed to check this file: .ci/run lints
# it with hadolint and runs the same cargo commands as the build stages).
#
#   docker build --target serve -t anirec-serve .   # default: the serving binary only
#   docker build --target cli   -t anirec-cli .     # the full anirec CLI (sweep trials, DVC stages)
#
# The model bundle is NOT baked in: the serving pod's init container copies
# the promoted bundle from the bucket into an emptyDir (k8s/deployment.yaml),
# so a new model is a rollout, not an image build; README "Deploy to GKE"
# explains the choice.

# No HEALTHCHECK: distroless has no shell or curl to run one, and Kubernetes
# ignores it anyway; the pods' probes call /healthz and /readyz instead.
# checkov:skip=CKV_DOCKER_2:health is probed by Kubernetes (k8s/deployment.yaml)

ARG RUST_VERSION=1.95

# ---- dependencies: built once per Cargo.lock change -------------------------
# The manifest, the lock file, and stubs for the library and binaries, so
# editing src/ does not invalidate the dependency layers. Benches and
# examples are only read for the manifest's target list (never built here),
# so the real files are copied: a new bench cannot break the image build.
# scripts/ci-delivery-lint.sh checks that every target in Cargo.toml exists here.
FROM rust:${RUST_VERSION}-slim-bookworm AS deps
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY examples ./examples
RUN mkdir -p src/bin \
 && touch src/lib.rs \
 && for f in src/bin/anirec.rs src/bin/anirec-serve.rs; do echo 'fn main() {}' > "$f"; done

# ---- serving binary: no burn, no polars (feature `serve` only) ---------------
FROM deps AS serve-build
RUN cargo build --release --locked --no-default-features --features serve --bin anirec-serve
# The server embeds its OpenAPI document (include_str! from docs/openapi.json).
COPY docs ./docs
COPY src ./src
# COPY keeps the context's mtimes, which can be older than the stubs' build
# outputs; touching makes cargo rebuild the crate itself (deps stay cached).
# The release profile keeps line tables for backtraces (most of the binary);
# the image gets the stripped binary. The `dist` profile (Cargo.toml) gives
# the same without strip(1), at the price of a dependency build of its own
# that CI would have to repeat.
RUN touch src/lib.rs src/bin/anirec-serve.rs \
 && cargo build --release --locked --no-default-features --features serve --bin anirec-serve \
 && strip target/release/anirec-serve

# ---- full CLI (default features: train + serve) -------------------------------
FROM deps AS cli-build
RUN cargo build --release --locked --bin anirec
# The report plots embed their font (include_bytes! from assets/fonts).
COPY assets ./assets
COPY docs ./docs
COPY src ./src
RUN touch src/lib.rs src/bin/anirec.rs \
 && cargo build --release --locked --bin anirec \
 && strip target/release/anirec

# ---- runtime: the CLI, for sweep Jobs and DVC stages -------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS cli
COPY --from=cli-build /src/target/release/anirec /usr/local/bin/anirec
WORKDIR /work
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/anirec"]
CMD ["--help"]

# ---- runtime: anirec-serve (last stage, so the default target) ---------------
# distroless/cc: glibc + libgcc + CA certificates, no shell, no package
# manager. The user is numeric (distroless `nonroot`, 65532) so the kubelet
# can verify runAsNonRoot.
FROM gcr.io/distroless/cc-debian12:nonroot AS serve
COPY --from=serve-build /src/target/release/anirec-serve /usr/local/bin/anirec-serve
# The bundle directory (mounted by Kubernetes); override with -e or --bundle.
ENV ANIREC_BUNDLE=/bundle \
    RUST_LOG=info
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/anirec-serve"]
CMD ["--addr", "0.0.0.0:8080"]
