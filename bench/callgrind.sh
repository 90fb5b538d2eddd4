#!/usr/bin/env bash
# Instructions per delivery on the server's fan-out path, counted by callgrind
# (user space only; repeatable, unlike timings on a shared machine). Runs the release
# server under callgrind twice with the same subscribers and a different number of
# messages; the difference in instructions over the difference in deliveries is the
# marginal cost of one delivery (start-up and connection set-up cancel out).
#   bench/callgrind.sh [SUBSCRIBERS] [FEW] [MANY]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
subs=${1:-200} few=${2:-100} many=${3:-400}
out=$ROOT/build/callgrind
mkdir -p "$out"
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --logfile "$out/redis.log" &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true' EXIT
sleep 0.3

measure() {  # messages -> "instructions deliveries"
  local messages=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-cli -p "$redis_port" FLUSHALL >/dev/null
  HOST=127.0.0.1 PORT=$port REDIS_PORT=$redis_port RATE_LIMIT=0 MAX_CONNECTIONS_PER_ADDRESS=0 \
    MAX_HANDSHAKES_PER_ADDRESS=0 CHANNEL_CREATE_RATE=0 ECHO_ENABLED=false \
    valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$messages" "$ROOT/.build/release/chat-server" \
    >"$out/server.$messages.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  sleep 1
  local result
  result=$("$ROOT/.build/release/chat-bench" pubsub --subscribers "$subs" --channels 1 --rate 50 \
    --duration "$(python3 -c "print($messages / 50)")" --drain 5 --settle 2 \
    --url "ws://127.0.0.1:$port/ws?nickname=s{i}" --join '{"op":"join","channel":"{ch}"}' --ready '"type":"joined"' \
    --publish ws --publish-url "ws://127.0.0.1:$port/ws?nickname=pub")
  kill -TERM $pid; wait $pid || true
  local instructions deliveries
  instructions=$(callgrind_annotate "$out/callgrind.$messages" 2>/dev/null |
    awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  deliveries=$(python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(r['delivered'] + r['publisher_echoes'])" \
    "$result")
  echo "$instructions $deliveries"
}

read -r i1 d1 < <(measure "$few")
read -r i2 d2 < <(measure "$many")
python3 - "$i1" "$d1" "$i2" "$d2" <<'PY'
import sys
i1, d1, i2, d2 = map(int, sys.argv[1:])
print(f"callgrind: {(i2 - i1) / (d2 - d1):.0f} instructions per delivery "
      f"({i2 - i1:,} instructions for {d2 - d1:,} more deliveries)")
PY
