#!/usr/bin/env bash
# Scrape latency of the celery collector with 50 queues and 100,000 queued messages
# (spread over kombu's priority lists). Run by hand from the workspace root:
#   bash exporter/bench/celery.sh            # release build
#   PROFILE=debug bash exporter/bench/celery.sh
set -euo pipefail
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then cargo build -q --release -p exporter; fi
BIN=target/$PROFILE/exporter
RPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
EPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DIR=$(mktemp -d)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 &
RPID=$!
trap 'kill $RPID ${EPID:-} 2>/dev/null; rm -rf "$DIR"' EXIT
sleep 0.5
# 50 queues, each bound like kombu does, 2,000 messages each over priorities 0/3/6/9.
redis-cli -p "$RPORT" EVAL "
for q = 1, 50 do
  local name = 'q' .. q
  redis.call('SADD', '_kombu.binding.' .. name, name .. '\6\22\6\22' .. name)
  for i = 1, 2000 do
    local pri = ({'', '\6\0223', '\6\0226', '\6\0229'})[(i % 4) + 1]
    redis.call('LPUSH', name .. pri, '{\"body\":\"x\"}')
  end
end
return 1" 0 >/dev/null
"$BIN" --web.listen-address=127.0.0.1:"$EPORT" --collector.disable-defaults --collector.celery \
  --celery.broker-url=redis://127.0.0.1:"$RPORT"/0 >"$DIR/exporter.log" 2>&1 &
EPID=$!
sleep 1
curl -s "http://127.0.0.1:$EPORT/metrics" | grep -c '^celery_queue_length{' | sed 's/^/queues reported: /'
curl -s "http://127.0.0.1:$EPORT/metrics" | awk '/^celery_queue_length\{/ {s+=$2} END {print "messages counted: " s}'
for i in $(seq 1 500); do
  curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$EPORT/metrics"
done | sort -n | awk '{a[NR]=$1} END {printf "scrapes: %d  p50: %.2f ms  p99: %.2f ms  max: %.2f ms\n", NR, a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, a[NR]*1000}'
grep VmRSS /proc/$EPID/status

# Memory over 1,000,000 synthetic task events (task.multi batches of 100, 10,000 distinct
# task names to exercise the cap, published on 127.0.0.1 in a bounded loop).
python3 - "$RPORT" <<'PY'
import base64, json, socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
buf = b""
sent = 0
for batch in range(10_000):
    events = []
    for i in range(100):
        n = batch * 100 + i
        events.append({"type": "task-succeeded" if n % 2 else "task-received", "uuid": "u%d" % n,
                       "name": "tasks.t%d" % (n % 10_000), "hostname": "w%d@h" % (n % 5),
                       "runtime": 0.01})
    body = base64.b64encode(json.dumps(events).encode()).decode()
    env = json.dumps({"body": body, "properties": {"body_encoding": "base64"}})
    buf += cmd("PUBLISH", "/0.celeryev/task.multi", env)
    sent += 100
    if batch % 100 == 99:
        s.sendall(buf); buf = b""
        s.settimeout(5); got = 0
        while got < 100:
            got += s.recv(65536).count(b"\r\n")
        if batch % 2000 == 1999:
            print("events published:", sent, flush=True)
s.close()
PY
sleep 1
curl -s "http://127.0.0.1:$EPORT/metrics" | grep -E '^celery_events_total'
curl -s "http://127.0.0.1:$EPORT/metrics" | grep -c '^celery_task_succeeded_total{' | sed 's/^/succeeded series (cap 1000 names + other): /'
grep VmRSS /proc/$EPID/status
