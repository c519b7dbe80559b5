#!/usr/bin/env bash
# Quick ingestion figures: recordEvent (one event per request) and recordEvents
# (100 events per request) against `whodid serve --workers 2` on a fresh
# database, 64 keep-alive connections with wrk. Prints wrk's summary and the
# stored event count. Usage: bench/quick_ingest.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-10}"
DB="whodid_bench_$$"
ADMIN="${WHODID_BENCH_ADMIN:-postgresql://postgres@127.0.0.1:5432/postgres}"
psql -q "$ADMIN" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="${ADMIN%/*}/$DB"
PORT=18765
.venv/bin/whodid serve --port $PORT --workers 2 > /tmp/whodid-bench.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; psql -q "$ADMIN" -c "DROP DATABASE $DB WITH (FORCE)" >/dev/null' EXIT
for _ in $(seq 100); do curl -sf localhost:$PORT/readyz >/dev/null && break; sleep 0.2; done
KEY=$(grep "write key" /tmp/whodid-bench.log | awk '{print $NF}')
LUA=$(mktemp --suffix=.lua)
cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"query":"mutation(\$i: RecordEventInput!) { recordEvent(input: \$i) { duplicate } }","variables":{"i":{"identity":"user-' .. (counter % 5000) .. '","name":"Viewed Page","properties":{"URL":"/pricing"}}}}'
  return wrk.format(nil, "/graphql", nil, body)
end
LUA
echo "== recordEvent, 1 event per request, 64 connections, ${SECS}s"
wrk -t2 -c64 -d${SECS}s --latency -s "$LUA" http://127.0.0.1:$PORT/graphql | grep -E "Requests/sec|50%|99%|Non-2xx|requests in"
EVENTS=$(.venv/bin/python - <<PY
import json
events = [{"identity": f"batch-{i % 500}", "name": "Viewed Page", "properties": {"URL": "/p"}} for i in range(100)]
print(json.dumps({"query": "mutation(\$e: [RecordEventInput!]!) { recordEvents(input: \$e) { accepted } }", "variables": {"e": events}}).replace('"', '\\\\"'))
PY
)
cat > "$LUA" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.body = "$EVENTS"
LUA
echo "== recordEvents, 100 events per request, 16 connections, ${SECS}s"
wrk -t2 -c16 -d${SECS}s --latency -s "$LUA" http://127.0.0.1:$PORT/graphql | grep -E "Requests/sec|50%|99%|Non-2xx|requests in"
echo "== events stored: $(psql -tA "$DATABASE_URL" -c 'SELECT count(*) FROM events')"
