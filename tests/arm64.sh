#!/usr/bin/env bash
# Cross-builds both binaries for aarch64 (e.g. Hetzner CAX) on an amd64 Debian machine,
# checks that they run under qemu-user-static, and builds the arm64 images:
#   bash tests/arm64.sh            # ~15 min on 2 cores; run by hand, not part of tests/run.sh
# Images: exporter-alerter/exporter:arm64 and exporter-alerter/alerter:arm64 (TAG=arm64).
#
# Why Debian's rustc: rustup cannot download the aarch64 standard library here, while
# Debian ships it as a package (libstd-rust-web-dev:arm64) for its own rustc.
set -euo pipefail
cd "$(dirname "$0")/.."

triple=aarch64-unknown-linux-gnu
debs=(rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A target directory of its own: Debian's rustc differs from rustup's, and nothing of one
# build is reusable by the other.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/arm64}
export RUSTC=/usr/bin/rustc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
start=$(date +%s)
cargo build --release --locked -p exporter -p alerter --target "$triple"
bin_dir=$CARGO_TARGET_DIR/$triple/release
echo "built in $(( $(date +%s) - start )) s"

# Both answer --version under emulation, and the exporter serves /metrics.
for bin in exporter alerter; do
  file "$bin_dir/$bin" | grep -q 'ARM aarch64' || { echo "$bin is not an aarch64 binary" >&2; exit 1; }
  echo "$bin: $(qemu-aarch64-static "$bin_dir/$bin" --version 2>&1 | head -1)"
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
qemu-aarch64-static "$bin_dir/exporter" --web.listen-address="127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$port/metrics" -o /tmp/arm64-metrics.$$ 2>/dev/null; then break; fi
  sleep 0.3
done
families=$(grep -c '^# TYPE ' /tmp/arm64-metrics.$$ || true)
rm -f /tmp/arm64-metrics.$$
[ "${families:-0}" -gt 50 ] || { echo "the aarch64 exporter served no /metrics under qemu" >&2; exit 1; }
echo "exporter (aarch64, qemu): /metrics serves $families metric families"
kill $pid; wait $pid 2>/dev/null || true
trap - EXIT

# Images: the classic builder honours --platform for a FROM scratch image.
BIN_DIR=$bin_dir TAG=${TAG:-arm64} PLATFORM=linux/arm64 STRIP=aarch64-linux-gnu-strip bash tests/images.sh
for bin in exporter alerter; do
  echo "exporter-alerter/$bin:${TAG:-arm64}: $(docker image inspect -f '{{.Os}}/{{.Architecture}}' "exporter-alerter/$bin:${TAG:-arm64}")"
done
