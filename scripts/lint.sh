#!/usr/bin/env bash
# The project's linters (docs/STYLE.md); `make lint` runs it, and `make test` through it.
#   scripts/lint.sh            everything: Sources Plugins Tests Fuzz Package.swift scripts bench web .ci/run
#   scripts/lint.sh PATH...    only these files and folders
#   scripts/lint.sh --fix ...  first `swift-format format -i` on the Swift files (then lints)
# Swift: swift-format lint --strict (.swift-format). Shell (*.sh, .ci/run): shellcheck.
# JavaScript (*.js, *.mjs): eslint (.eslintrc.json, and scripts/eslint-rules). Every Swift, shell and Lua file: no line
# over 120 columns (swift-format does not break comments or string literals). Prints every finding
# and one line per tool; exits 1 when any tool found something.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

fix=0
if [[ ${1:-} == --fix ]]; then
  fix=1
  shift
fi
if (($# > 0)); then
  paths=("$@")
else
  paths=(Sources Plugins Tests Fuzz Package.swift scripts bench web .ci/run)
fi

swift_files=() shell_files=() js_files=() lua_files=()
while IFS= read -r -d '' f; do
  case $f in
    *.swift) swift_files+=("$f") ;;
    *.sh) shell_files+=("$f") ;;
    *.js | *.mjs) js_files+=("$f") ;;
    *.lua) lua_files+=("$f") ;;
    *) head -n 1 "$f" | grep -qE '^#!.*\b(ba)?sh\b' && shell_files+=("$f") ;;
  esac
done < <(find "${paths[@]}" \( -name '.build*' -o -name node_modules \) -prune -o -type f \
  \( -name '*.swift' -o -name '*.sh' -o -name '*.js' -o -name '*.mjs' -o -name '*.lua' -o -path '.ci/*' \) \
  -print0 | sort -z)

failed=()
report() { # tool, its exit status, its findings (one a line), what was checked
  local n
  n=$(grep -c . <<<"$3" || true)
  [[ -n $3 ]] && echo "$3"
  if (($2 == 0 && n == 0)); then
    echo "lint: $1 ok ($4)"
  else
    echo "lint: $1: $n finding(s), exit status $2 ($4)"
    failed+=("$1")
  fi
}

if ((${#swift_files[@]} > 0)); then
  if ((fix)); then
    swift-format format -i --parallel "${swift_files[@]}"
  fi
  rc=0
  out=$(swift-format lint --strict --parallel "${swift_files[@]}" 2>&1) || rc=$?
  report swift-format "$rc" "$out" "${#swift_files[@]} Swift files"
fi

long_files=("${swift_files[@]}" "${shell_files[@]}" "${lua_files[@]}")
if ((${#long_files[@]} > 0)); then
  out=$(LC_ALL=C.UTF-8 grep -nHP '^.{121,}' "${long_files[@]}" | cut -c 1-150 | sed 's/$/ [over 120 columns]/') || true
  report "line length" 0 "$out" "${#long_files[@]} Swift, shell and Lua files"
fi

if ((${#shell_files[@]} > 0)); then
  if ! command -v shellcheck >/dev/null; then
    echo "lint: shellcheck missing (scripts/deps.sh --lint installs it)" >&2
    failed+=(shellcheck)
  else
    rc=0
    out=$(shellcheck -f gcc "${shell_files[@]}" 2>&1) || rc=$?
    report shellcheck "$rc" "$out" "${#shell_files[@]} shell scripts"
  fi
fi

if ((${#js_files[@]} > 0)); then
  if ! command -v eslint >/dev/null; then
    echo "lint: eslint missing (scripts/deps.sh --lint installs it)" >&2
    failed+=(eslint)
  else
    # Debian's eslint finds its modules in /usr/share/nodejs, where only Debian's own node
    # looks by itself; `-f unix` needs no chalk (not packaged with it).
    rc=0
    out=$(NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH} \
      eslint -f unix --no-eslintrc -c .eslintrc.json --rulesdir scripts/eslint-rules "${js_files[@]}" 2>&1) || rc=$?
    out=$(grep -v '^$' <<<"$out" | grep -v '^[0-9]* problems\?$') || true
    report eslint "$rc" "$out" "${#js_files[@]} JavaScript files"
  fi
fi

if ((${#failed[@]} > 0)); then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
