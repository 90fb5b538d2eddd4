#!/usr/bin/env bash
# Creates .venv/py with the Python packages the tests use (pinned in
# Tests/integration/requirements.txt); instant when already up to date.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv/py
REQ=$ROOT/Tests/integration/requirements.txt
if [[ -x $VENV/bin/python ]] && cmp -s "$REQ" "$VENV/.requirements"; then
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
cp "$REQ" "$VENV/.requirements"
