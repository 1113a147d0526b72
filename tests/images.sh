#!/usr/bin/env bash
# Builds the two container images from static binaries, with no base image to pull:
#   bash tests/images.sh                 # release binaries for this machine, then images
#   BIN_DIR=target/x/debug bash tests/images.sh   # images from binaries already built
#   (PLATFORM=linux/arm64 and STRIP=aarch64-linux-gnu-strip for other architectures' binaries)
# Tags: exporter-alerter/exporter:$TAG and exporter-alerter/alerter:$TAG (TAG=latest).
# For arm64 images see tests/arm64.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${TAG:-latest}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --locked -p exporter -p alerter
  BIN_DIR=target/$(rustc -vV | sed -n 's/^host: //p')/release
fi
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] || { echo "no CA bundle at $ca (apt-get install ca-certificates)" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for bin in exporter alerter; do
  rm -rf "${ctx:?}"/*
  cp "$BIN_DIR/$bin" "$ctx/$bin"
  # Symbols are no use in the image and are most of a debug binary's size.
  strip=${STRIP:-strip}
  if command -v "$strip" >/dev/null; then "$strip" "$ctx/$bin"; fi
  cp "$bin/Dockerfile" "$ctx/Dockerfile"
  if [ "$bin" = alerter ]; then cp "$ca" "$ctx/ca-certificates.crt"; mkdir "$ctx/data"; fi
  docker build -q ${PLATFORM:+--platform "$PLATFORM"} -t "exporter-alerter/$bin:$tag" "$ctx" >/dev/null
  size=$(docker image inspect -f '{{.Size}}' "exporter-alerter/$bin:$tag")
  echo "exporter-alerter/$bin:$tag $((size / 1024 / 1024)) MiB"
done
