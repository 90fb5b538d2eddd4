#!/usr/bin/env bash
# Installs the Debian packages the server needs to build and run, when missing.
#   scripts/deps.sh          build + run: libevent-dev libhiredis-dev libcrypt-dev libicu-dev redis-server
#   scripts/deps.sh --test   also what the test suite needs (redis-tools, docker-compose,
#                            chromium + chromium-driver for the web client's browser test,
#                            nodejs for its unit tests, and the linters of --lint)
#   scripts/deps.sh --lint   the linters `make lint` runs besides swift-format: shellcheck, eslint
#   scripts/deps.sh --bench  also the benchmark's peer (nginx, libnginx-mod-nchan) and taskset
set -euo pipefail

packages=(libevent-dev libhiredis-dev libcrypt-dev libicu-dev redis-server pkg-config)
case "${1:-}" in
  --test) packages+=(redis-tools docker-compose chromium chromium-driver nodejs shellcheck eslint) ;;
  --lint) packages+=(shellcheck eslint) ;;
  --bench) packages+=(redis-tools nginx-light libnginx-mod-nchan util-linux valgrind) ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
(( ${#missing[@]} == 0 )) && exit 0

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "deps: missing packages and not root; run: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a system redis-server where systemd runs; neither `make run`
# nor the tests rely on it.
