#!/usr/bin/env bash
# Benchmark (by hand, not in CI): server-side render time of the status page `/` with
# 1,000 active alerts in 100 groups (group_by alertname, 10 alerts each, labels and
# annotations on every alert), 10 silences muting 100 of them, and a failing webhook
# receiver, on the release build.
#   bash alerter/bench/status_page.sh        # REQUESTS=500 by default
# The page reports its own render time (gather + markup) in the `Server-Timing:
# render;dur=<ms>` header; printed: p50/p99/max of that, and of the whole request as
# the client sees it (loopback, keep-alive, body read). Target: render p99 < 50 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS="${REQUESTS:-500}"
cargo build --release -q -p alerter --bin alerter
target="${CARGO_TARGET_DIR:-$(pwd)/target}/$(rustc --print host-tuple)/release"   # .cargo/config.toml: build.target
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
dead=$(free_port)   # nothing listens here: the failing receiver
cat > "$work/am.yml" <<YML
route:
  receiver: failing
  group_by: [alertname]
  group_wait: 1s
  group_interval: 10s
  repeat_interval: 1h
receivers:
  - name: failing
    webhook_configs:
      - url: http://127.0.0.1:$dead/hook
YML
"$target/alerter" --config.file="$work/am.yml" --storage.path="$work/data" \
  --web.listen-address="127.0.0.1:$port" >"$work/alerter.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$REQUESTS" <<'PY'
import json, sys, time, http.client, statistics
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def req(method, path, body=None):
    c.request(method, path, body=body, headers={"content-type": "application/json"})
    r = c.getresponse(); data = r.read()
    return r, data
alerts = [{"labels": {"alertname": f"Alert{g:03d}", "instance": f"host-{i}.example.org:9100",
                      "job": "node", "severity": "warning" if i % 2 else "critical"},
           "annotations": {"summary": f"Alert{g:03d} on host-{i}: something is wrong",
                           "description": "a longer text " * 5}}
          for g in range(100) for i in range(10)]
r, d = req("POST", "/api/v2/alerts", json.dumps(alerts)); assert r.status == 200, d
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
for g in range(10):
    s = {"matchers": [{"name": "alertname", "value": f"Alert{g:03d}", "isRegex": False}],
         "startsAt": now, "endsAt": end, "createdBy": "bench", "comment": "bench"}
    r, d = req("POST", "/api/v2/silences", json.dumps(s)); assert r.status == 200, d
# Wait for the dispatcher to hold all 100 groups (a positive signal, not a sleep).
for _ in range(600):
    r, d = req("GET", "/api/v2/alerts/groups")
    if len(json.loads(d)) == 100: break
    time.sleep(0.05)
else:
    sys.exit("the groups never appeared")
render, total = [], []
size = 0
for i in range(n + 20):
    t0 = time.perf_counter()
    r, d = req("GET", "/")
    took = (time.perf_counter() - t0) * 1000
    assert r.status == 200
    st = r.getheader("server-timing")
    if i < 20: continue   # warm-up
    render.append(float(st.split("dur=")[1])); total.append(took); size = len(d)
def q(v, p): v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]
text = d.decode()
assert "Alerts (1000)" in text, "page does not show 1000 alerts"
print(f"status page, 1000 alerts in 100 groups, 10 silences, {n} requests, page {size/1024:.0f} KiB")
print(f"  render (server-side): p50 {q(render,.5):.2f} ms  p99 {q(render,.99):.2f} ms  max {max(render):.2f} ms")
print(f"  request (client):     p50 {q(total,.5):.2f} ms  p99 {q(total,.99):.2f} ms  max {max(total):.2f} ms")
PY
echo "  alerter VmRSS after: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)"
