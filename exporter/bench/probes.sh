#!/usr/bin/env bash
# Benchmark: what one HTTP probe costs the exporter. Run by hand, not in CI:
#
#   bash exporter/bench/probes.sh           # 500 probes
#   N=200 bash exporter/bench/probes.sh
#
# Starts a local HTTP server (python3 -m http.server, one small file) and the release
# exporter with only the probes collector and one probe of it, then calls /probe N times
# sequentially. Prints VmRSS (idle, after), CPU seconds per 100 probes, p50/p99 latency
# of /probe and p50 of the probe's own probe_duration_seconds (a new connection each).
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-500}"

cargo build --release -p exporter >&2
bin="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release/exporter"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p_app=$(free_port); p_exp=$(free_port)
dir=$(mktemp -d)
echo "status: ok" >"$dir/health"
cat >"$dir/exporter.yml" <<EOF
probes:
  - {name: app, url: 'http://127.0.0.1:$p_app/health', body_regex: 'status: ok'}
EOF
python3 -m http.server "$p_app" --bind 127.0.0.1 --directory "$dir" >"$dir/app.log" 2>&1 & pid_app=$!
"$bin" --web.listen-address="127.0.0.1:$p_exp" --config.file="$dir/exporter.yml" \
  --collector.disable-defaults --collector.probes >"$dir/exporter.log" 2>&1 & pid_exp=$!
trap 'kill $pid_app $pid_exp 2>/dev/null; rm -rf "$dir"' EXIT
sleep 2

python3 - "$N" "$pid_exp" "$p_exp" <<'PY'
import http.client, os, sys, time

n, pid, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ticks = os.sysconf("SC_CLK_TCK")

def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def cpu_s():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / ticks

idle = rss_mib()
conn = http.client.HTTPConnection("127.0.0.1", port)
lat, durations = [], []
cpu0 = cpu_s()
for _ in range(n):
    t0 = time.perf_counter()
    conn.request("GET", "/probe?target=app")
    body = conn.getresponse().read().decode()
    lat.append((time.perf_counter() - t0) * 1000)
    assert "\nprobe_success 1.0\n" in body, body
    for line in body.splitlines():
        if line.startswith("probe_duration_seconds "):
            durations.append(float(line.split()[1]) * 1000)
cpu = cpu_s() - cpu0
lat.sort(); durations.sort()
pct = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]
print("| probes | VmRSS idle | VmRSS after | CPU-s per 100 probes | /probe p50 | /probe p99 | probe_duration p50 |")
print("|---|---|---|---|---|---|---|")
print(f"| {n} | {idle:.1f} MiB | {rss_mib():.1f} MiB | {cpu / n * 100:.3f} | {pct(lat, .5):.2f} ms | "
      f"{pct(lat, .99):.2f} ms | {pct(durations, .5):.2f} ms |")
PY
