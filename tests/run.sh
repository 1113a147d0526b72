#!/usr/bin/env bash
# The whole test suite. Installs what the tests need when it is missing (Debian
# packages, Python packages), so it works on a fresh machine; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

# The real peers our output is compared with, and the servers the tests drive.
debs=(prometheus-node-exporter prometheus-redis-exporter prometheus-alertmanager prometheus
      redis-server busybox-static openssl python3-pip chromium chromium-driver faketime)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 - <<'PY' 2>/dev/null
import importlib.metadata as m, pathlib, re, sys
want = [l.split("#")[0].strip() for l in pathlib.Path("tests/requirements.txt").read_text().splitlines()]
for req in filter(None, want):
    name, ver = re.match(r"([A-Za-z0-9_.-]+)(?:\[.*\])?==(.+)", req).groups()
    if m.version(name) != ver:
        sys.exit(1)
PY
then
  echo "installing Python packages from tests/requirements.txt"
  python3 -m pip install -q -r tests/requirements.txt
fi

cargo test --workspace --locked --no-fail-fast
