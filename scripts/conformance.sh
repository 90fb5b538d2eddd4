#!/usr/bin/env bash
# Runs the Autobahn TestSuite against the /echo endpoint of a chat-server started
# here on a free port (it serves /echo without Redis), then stops it.
#   scripts/conformance.sh BINARY OUTDIR CASES...
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$1 outdir=$2
shift 2
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$outdir"
# Redis is pointed at a closed port: /echo does not need it.
ECHO_ENABLED=true HOST=127.0.0.1 PORT=$port REDIS_PORT=1 INSTANCE_ID=autobahn "$bin" >"$outdir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$ROOT/Tests/autobahn/run.sh" "ws://127.0.0.1:$port/echo" "$outdir" "$@"
