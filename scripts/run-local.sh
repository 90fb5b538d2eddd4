#!/usr/bin/env bash
# `make run`: serves with the release build. When nothing answers at
# REDIS_HOST:REDIS_PORT and that is this machine, starts a private redis-server
# there for the session (stopped again on exit). Settings: .env, environment, flags.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/.build/release/chat-server

# What the server will use: the environment wins over .env (as in the server).
setting() {
  local key=$1 default=$2 value=${!1:-}
  if [[ -z $value && -f .env ]]; then
    value=$(sed -n "s/^[[:space:]]*\(export[[:space:]]\+\)\?$key=[\"']\?\([^\"'#]*\)[\"']\?.*/\2/p" .env | tail -n 1 | tr -d '[:space:]')
  fi
  echo "${value:-$default}"
}
host=$(setting REDIS_HOST 127.0.0.1)
port=$(setting REDIS_PORT 6379)
password=$(setting REDIS_PASSWORD "")

redis_pid=""
cleanup() { [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

if ! redis-cli -h "$host" -p "$port" ${password:+--no-auth-warning -a "$password"} ping >/dev/null 2>&1; then
  case $host in
    127.0.0.1|localhost|::1)
      echo "run: no Redis at $host:$port, starting redis-server there for this session"
      args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning)
      [[ -n $password ]] && args+=(--requirepass "$password")
      redis-server "${args[@]}" &
      redis_pid=$!
      for _ in $(seq 50); do redis-cli -p "$port" ${password:+--no-auth-warning -a "$password"} ping >/dev/null 2>&1 && break; sleep 0.1; done
      ;;
    *) echo "run: no Redis answers at $host:$port; the server will keep retrying" ;;
  esac
fi

web_port=$(setting PORT 8080)
args=("$@")
for i in "${!args[@]}"; do
  case ${args[$i]} in
    --port=*) web_port=${args[$i]#--port=} ;;
    --port) web_port=${args[$((i + 1))]:-$web_port} ;;
  esac
done
echo "run: the web client will be at http://localhost:$web_port/ (Ctrl-C stops the server)"

"$BIN" "$@" &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null' INT TERM
wait $server_pid || status=$?
trap - INT TERM
wait $server_pid 2>/dev/null || true
exit "${status:-0}"
