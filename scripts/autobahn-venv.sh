#!/usr/bin/env bash
# Creates .venv/autobahn: a Python 2.7 virtualenv holding the Autobahn TestSuite
# (wstest). The suite is Python 2 code; its sdist omits its requirements (its py2
# wheel declares these same pins), so every dependency is pinned here by hand.
# Reruns are instant once the marker matches the pin list. Last stdout line: wstest's path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv/autobahn
TOOLS=$ROOT/.venv/tools
MARKER=$VENV/.complete
PINS="txaio==2.1.0 incremental==16.10.1 pyOpenSSL==19.1.0 cryptography==3.3.2
Twisted==19.10.0 zope.interface==4.6.0 jinja2==2.11.3 markupsafe==1.1.1
Werkzeug==1.0.1 klein==17.10.0 service_identity==18.1.0 unittest2==1.1.0
six==1.16.0 setuptools==44.0.0 autobahn[accelerate,twisted]==0.10.9
autobahntestsuite==25.10.1"

# Fast path: a complete venv built from exactly these pins.
if [[ -x $VENV/bin/wstest && -f $MARKER && "$(cat "$MARKER")" == "$PINS" ]]; then
  echo "$VENV/bin/wstest"; exit 0
fi

# Serialise concurrent builds (e.g. two test runs started at once).
mkdir -p "$ROOT/.venv"
exec 9>"$ROOT/.venv/.autobahn.lock"
flock 9
if [[ -x $VENV/bin/wstest && -f $MARKER && "$(cat "$MARKER")" == "$PINS" ]]; then
  echo "$VENV/bin/wstest"; exit 0
fi

# Find a Python 2.7 interpreter: pyenv first, then the image's pyenv, then PATH.
PY2=
for c in "$(pyenv root 2>/dev/null || true)"/versions/2.7.*/bin/python2.7 \
         /root/.pyenv/versions/2.7.*/bin/python2.7 "$(command -v python2.7 || true)"; do
  if [[ -x $c ]] && "$c" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
    PY2=$c; break
  fi
done
if [[ -z $PY2 ]]; then
  echo "autobahn-venv: no Python 2.7 found (tried pyenv, /root/.pyenv/versions/2.7.*, PATH);" \
       "the Autobahn TestSuite needs it" >&2
  exit 1
fi

# virtualenv<20.22 is the last that can create Python 2.7 envs; keep it in a
# small Python 3 tool venv instead of the system Python.
# The tool venv is shared with scripts/check-docker.sh (hadolint): add to it, never replace it.
if [[ ! -x $TOOLS/bin/virtualenv ]]; then
  [[ -x $TOOLS/bin/pip ]] || { echo "autobahn-venv: creating $TOOLS" >&2; python3 -m venv "$TOOLS"; }
  "$TOOLS/bin/pip" install -q 'virtualenv<20.22' >&2
fi

# (Re)build the Python 2.7 venv from scratch: a partial one is not trusted.
echo "autobahn-venv: building $VENV with $PY2" >&2
rm -rf "$VENV"
"$TOOLS/bin/virtualenv" -q -p "$PY2" "$VENV" >&2
# shellcheck disable=SC2086  # word splitting of the pin list is intended
"$VENV/bin/pip" install -q --no-python-version-warning --no-warn-script-location $PINS >&2
"$VENV/bin/wstest" --help >/dev/null   # fails (and so does the script) if broken
printf '%s' "$PINS" >"$MARKER"
echo "$VENV/bin/wstest"
