#!/usr/bin/env bash
# Runs the Autobahn TestSuite (wstest fuzzingclient) against a WebSocket echo
# endpoint and fails on any bad result.
#   usage: Tests/autobahn/run.sh URL OUTDIR CASES...
#   e.g.   Tests/autobahn/run.sh ws://127.0.0.1:9001/echo build/autobahn '1.*' '2.*' '9.*'
# Env: AUTOBAHN_ALLOW_UNIMPLEMENTED="12. 13." (case id prefixes where UNIMPLEMENTED
# is accepted), AUTOBAHN_TIMEOUT (seconds for the whole run, default 1500).
set -euo pipefail

if (( $# < 3 )); then
  echo "usage: $0 URL OUTDIR CASES..." >&2; exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
URL=$1
mkdir -p "$2"
OUTDIR=$(cd "$2" && pwd)   # absolute: wstest resolves it against its cwd
shift 2

WSTEST=$("$ROOT/scripts/autobahn-venv.sh" | tail -n 1)

# Fuzzingclient spec; python3 does the JSON quoting of the case patterns.
SPEC=$OUTDIR/fuzzingclient.json
python3 - "$URL" "$OUTDIR" "$@" >"$SPEC" <<'PY'
import json, sys
url, outdir, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
print(json.dumps({"outdir": outdir, "options": {"failByDrop": False},
                  "servers": [{"agent": "chat-server", "url": url}],
                  "cases": cases, "exclude-cases": [], "exclude-agent-cases": {}},
                 indent=2))
PY

# A stale index.json must never be checked in place of this run's.
rm -f "$OUTDIR/index.json"
LOG=$OUTDIR/wstest.log
echo "autobahn: running ${*} against $URL (log: $LOG)"
status=0
(cd "$OUTDIR" && timeout "${AUTOBAHN_TIMEOUT:-1500}" "$WSTEST" -m fuzzingclient -s "$SPEC") \
  >"$LOG" 2>&1 || status=$?
if (( status != 0 )); then
  echo "autobahn: wstest exited with status $status (124 means timeout)" >&2
  tail -n 20 "$LOG" >&2; exit 1
fi
# wstest skips every remaining case when a connection fails; say so clearly.
grep '^Connection to .* failed' "$LOG" >&2 || true

# The checker also fails if fewer cases were reported than wstest planned.
expect=$(sed -n 's/^Ok, will run \([0-9]*\) test cases.*/\1/p' "$LOG" | head -n 1)
read -r -a allow <<<"${AUTOBAHN_ALLOW_UNIMPLEMENTED:-}"
exec python3 "$HERE/check_report.py" "$OUTDIR" --expect-cases "${expect:-1}" \
  ${allow[@]+--allow-unimplemented "${allow[@]}"}
