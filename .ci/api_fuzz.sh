#!/usr/bin/env bash
# Property-based test of the REST API: schemathesis generates requests from
# the server's own /openapi.json and fails on any 5xx answer or a crash.
# Starts `oort serve` on a free loopback port with a temporary data directory,
# runs schemathesis, stops the server. Exits non-zero on any failure.
#
#   bash .ci/api_fuzz.sh            # default: up to 50 examples per operation, 180 s budget
#   FUZZ_EXAMPLES=200 FUZZ_MAX_TIME=600 bash .ci/api_fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES="${FUZZ_EXAMPLES:-50}"
MAX_TIME="${FUZZ_MAX_TIME:-180}"

if ! command -v schemathesis >/dev/null 2>&1; then
    echo "== installing schemathesis"
    python3 -m pip install --quiet --disable-pip-version-check schemathesis
fi
python3 -c 'import openapi_spec_validator' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
schemathesis --version

echo "== building oort"
cargo build --quiet --bin oort
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
oort="$target_dir/debug/oort"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== starting oort serve on 127.0.0.1:$port (data in $work)"
# cwd is the temp dir, so no etc/oort.yaml is read and relative paths stay inside it.
(cd "$work" && exec "$oort" serve --bind "127.0.0.1:$port" --data-dir "$work/data" --workers 1 >"$work/server.log" 2>&1) &
server_pid=$!
for _ in $(seq 1 150); do
    if curl -sf "http://127.0.0.1:$port/ping" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "server exited early:"; cat "$work/server.log"; exit 1
    fi
    sleep 0.2
done
curl -sf "http://127.0.0.1:$port/ping" >/dev/null || { echo "server did not start"; cat "$work/server.log"; exit 1; }

echo "== validating the OpenAPI document"
curl -sf "http://127.0.0.1:$port/openapi.json" -o "$work/openapi.json"
python3 - "$work/openapi.json" <<'PY'
import json, sys
from openapi_spec_validator import validate
validate(json.load(open(sys.argv[1])))
print("openapi.json: valid")
PY

echo "== schemathesis"
status=0
(cd "$work" && schemathesis run "http://127.0.0.1:$port/openapi.json" \
    --checks not_a_server_error \
    --request-timeout 30 \
    --max-examples "$EXAMPLES" \
    --max-time "$MAX_TIME" \
    --workers 1 \
    --seed 1 \
    --generation-database none \
    --suppress-health-check all \
    --no-color) || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "FAIL: the server crashed during the run"
    tail -n 50 "$work/server.log"
    exit 1
fi
if ! curl -sf "http://127.0.0.1:$port/ping" >/dev/null; then
    echo "FAIL: the server no longer answers /ping"
    exit 1
fi
if [[ $status -ne 0 ]]; then
    echo "FAIL: schemathesis found problems (exit $status)"
    grep -E "ERROR|panicked" "$work/server.log" | tail -n 20 || true
    exit "$status"
fi
echo "api_fuzz: 1 passed, 0 failed"
