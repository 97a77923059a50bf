#!/bin/sh
# The rendered-manifests pattern for Flux: CI renders the kure specs in apps/ into a
# kustomize tree in rendered/ (replaced whole, atomically) and commits it; the Flux
# Kustomization in flux-kustomization.yaml applies ./rendered. kure's lock (kure.lock, then
# enforced with --locked) pins every plugin, so CI renders with exactly the reviewed plugin
# bytes.
#
#   deploy/flux/render.sh [SPECS_DIR] [OUT_DIR]
set -eu
specs="${1:-apps}"
out="${2:-rendered}"
# The plugins the lock pins, from the registries it records (nothing to fetch when the
# store already holds them; the runner must trust the signers: `kure trust add KEY.pem`).
locked=""
if [ -f kure.lock ]; then
  kure plugins sync --quiet
  locked="--locked"
fi
kure validate --quiet $locked -f "$specs"
kure generate --quiet $locked -f "$specs" -o "$out"
# Or, with kure as a kustomize generator (kure kustomize install-plugins, once):
#   kubectl kustomize --enable-alpha-plugins overlays/prod > "$out/all.yaml"
