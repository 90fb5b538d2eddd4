#!/usr/bin/env bash
# `make run`: serves with the release build. When nothing answers at
# REDIS_HOST:REDIS_PORT and that is this machine, starts a private redis-server
# there for the session (stopped again on exit). Settings: .env, environment, flags.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${RUN_BIN:-$ROOT/.build/release/chat-server}  # RUN_BIN: the tests run it with another build

# The flags this script needs to know about, in both forms (--key value, --key=value).
declare -A flag=()
args=("$@")
for i in "${!args[@]}"; do
  for key in env-file host port redis-host redis-port redis-password; do
    case ${args[$i]} in
      --"$key"=*) flag[$key]=${args[$i]#--"$key"=} ;;
      --"$key") flag[$key]=${args[$((i + 1))]:-} ;;
    esac
  done
done
env_file=${flag[env-file]:-.env}

# What the server will use: flags win over the environment, which wins over the
# .env file (as in the server).
setting() { # NAME DEFAULT FLAG
  local key=$1 default=$2 value=${flag[$3]:-${!1:-}}
  if [[ -z $value && -f $env_file ]]; then
    local pattern="s/^[[:space:]]*\(export[[:space:]]\+\)\?$key=[\"']\?\([^\"'#]*\)[\"']\?.*/\2/p"
    value=$(sed -n "$pattern" "$env_file" | tail -n 1 | tr -d '[:space:]')
  fi
  echo "${value:-$default}"
}
host=$(setting REDIS_HOST 127.0.0.1 redis-host)
port=$(setting REDIS_PORT 6379 redis-port)
password=$(setting REDIS_PASSWORD "" redis-password)
web_port=$(setting PORT 8080 port)
listen=$(setting HOST 0.0.0.0 host)

redis_pid=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() { [[ -n $redis_pid ]] && kill "$redis_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# The server and its Redis run in sessions of their own (setsid): a Ctrl-C at the
# terminal reaches only this script, which then stops the server once, gracefully
# (a second signal would make it exit at once), and Redis after it, not during the
# server's drain.
if ! redis-cli -h "$host" -p "$port" ${password:+--no-auth-warning -a "$password"} ping >/dev/null 2>&1; then
  case $host in
    127.0.0.1|localhost|::1)
      # Its start-up banner and warnings (such as the one about memory overcommit, which
      # does not matter for a session without persistence) go to a file, not the terminal.
      redis_log=$ROOT/build/run/redis-$port.log
      mkdir -p "$(dirname "$redis_log")"
      : >"$redis_log"
      echo "run: no Redis at $host:$port, starting redis-server there for this session (its log: ${redis_log#"$PWD"/})"
      redis_args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning --logfile "$redis_log")
      [[ -n $password ]] && redis_args+=(--requirepass "$password")
      setsid redis-server "${redis_args[@]}" </dev/null >>"$redis_log" 2>&1 &
      redis_pid=$!
      started=""
      for _ in $(seq 50); do
        if redis-cli -p "$port" ${password:+--no-auth-warning -a "$password"} ping >/dev/null 2>&1; then
          started=1
          break
        fi
        sleep 0.1
      done
      [[ -n $started ]] ||
        echo "run: redis-server does not answer (see ${redis_log#"$PWD"/}); the server will keep retrying"
      ;;
    *) echo "run: no Redis answers at $host:$port; the server will keep retrying" ;;
  esac
fi

echo "run: the web client will be at http://localhost:$web_port/ (Ctrl-C stops the server)"
case $listen in
  0.0.0.0|::|"[::]")
    echo "run: listening on all network interfaces (HOST=$listen); HOST=127.0.0.1 keeps it to this machine" ;;
esac

setsid "$BIN" "$@" &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null' INT TERM
# `wait` returns early when a signal's trap runs: wait again until the server is gone,
# and exit with its status.
status=0
while true; do
  wait "$server_pid" && status=0 || status=$?
  kill -0 "$server_pid" 2>/dev/null || break
done
trap - INT TERM
exit "$status"
