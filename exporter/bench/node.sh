#!/usr/bin/env bash
# Benchmark: our exporter vs Debian's prometheus-node-exporter (default collectors),
# in one run on this machine. Run by hand, not in CI:
#
#   bash exporter/bench/node.sh            # 1000 scrapes each
#   SCRAPES=200 bash exporter/bench/node.sh
#
# Measures VmRSS idle (after start, before any scrape) and after the scrapes, CPU
# seconds (utime+stime from /proc/<pid>/stat) per 100 scrapes, p50/p99 latency of
# sequential scrapes over one keep-alive connection with Prometheus' Accept header,
# and the number of samples. Prints a Markdown table for the README.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCRAPES="${SCRAPES:-1000}"

command -v prometheus-node-exporter >/dev/null || { echo "needs prometheus-node-exporter (bash tests/run.sh installs it)" >&2; exit 1; }
cargo build --release -p exporter >&2
ours_bin="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release/exporter"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p_ours=$(free_port); p_ne=$(free_port)
logdir=$(mktemp -d)
"$ours_bin" --web.listen-address="127.0.0.1:$p_ours" >"$logdir/ours.log" 2>&1 & pid_ours=$!
prometheus-node-exporter --web.listen-address="127.0.0.1:$p_ne" >"$logdir/ne.log" 2>&1 & pid_ne=$!
trap 'kill $pid_ours $pid_ne 2>/dev/null; rm -rf "$logdir"' EXIT
sleep 2

python3 - "$SCRAPES" "ours:$pid_ours:$p_ours" "node_exporter:$pid_ne:$p_ne" <<'PY'
import http.client, os, sys, time

scrapes = int(sys.argv[1])
ticks = os.sysconf("SC_CLK_TCK")
accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
          "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / ticks

rows = []
targets = [a.split(":") for a in sys.argv[2:]]
idle = {name: rss_mib(int(pid)) for name, pid, _ in targets}
for name, pid, port in targets:
    pid = int(pid)
    conn = http.client.HTTPConnection("127.0.0.1", int(port))
    lat, samples = [], 0
    cpu0 = cpu_s(pid)
    for i in range(scrapes):
        t0 = time.perf_counter()
        conn.request("GET", "/metrics", headers={"Accept": accept})
        body = conn.getresponse().read()
        lat.append((time.perf_counter() - t0) * 1000)
        if i == 0:
            samples = sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))
    cpu = cpu_s(pid) - cpu0
    lat.sort()
    rows.append((name, idle[name], rss_mib(pid), cpu / scrapes * 100,
                 lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))], samples))

print(f"\n{scrapes} sequential scrapes each, {os.cpu_count()} CPUs\n")
print(f"| exporter | VmRSS idle | VmRSS after {scrapes} scrapes | CPU-s per 100 scrapes | p50 latency | p99 latency | samples |")
print("|---|---|---|---|---|---|---|")
for n, ri, ra, c, p50, p99, s in rows:
    print(f"| {n} | {ri:.1f} MiB | {ra:.1f} MiB | {c:.3f} | {p50:.2f} ms | {p99:.2f} ms | {s} |")
o, t = rows[0], rows[1]
print(f"\nratios ours/node_exporter: RSS idle {o[1]/t[1]:.2f}, RSS after {o[2]/t[2]:.2f}, "
      f"CPU {o[3]/t[3]:.2f}, p99 {o[5]/t[5]:.2f} (targets: RSS <= 0.33, CPU <= 0.33, p99 <= 0.50)")
PY
