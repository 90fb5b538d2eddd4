#!/usr/bin/env bash
# Builds the libFuzzer target for ChatCore's parsers (Fuzz/ChatFuzz.swift) and runs
# each of its three targets (http, frames, protocol).
#   scripts/fuzz.sh RUNS [SECONDS]   at most RUNS inputs and SECONDS per target
# Seeds: Fuzz/seeds/<target>; the growing corpus and any crash inputs go to
# build/fuzz/<target> (crash-*, printed by libFuzzer). Exit status 1 on any finding.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
runs=${1:-100000} seconds=${2:-60}
bin=.build-fuzz/chat-fuzz
sources=(Sources/ChatCore/*/*.swift Fuzz/ChatFuzz.swift)
if [[ ! -x $bin ]] || [[ -n $(find "${sources[@]}" -newer "$bin" | head -n 1) ]]; then
  mkdir -p .build-fuzz
  echo "fuzz: building $bin"
  # ld.gold warns about asan symbols it cannot export; harmless, so filtered out.
  swiftc -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 "${sources[@]}" -o "$bin" 2>&1 \
    | { grep -v "Cannot export local symbol '__asan" || true; }
fi
for target in http frames protocol; do
  corpus=build/fuzz/$target
  mkdir -p "$corpus"
  FUZZ_TARGET=$target "$bin" -runs="$runs" -max_total_time="$seconds" -max_len=4096 \
    -artifact_prefix="$corpus/" "$corpus" "Fuzz/seeds/$target" >"$corpus.log" 2>&1 || {
      echo "fuzz: $target FAILED (see $corpus.log)"; tail -n 30 "$corpus.log"; exit 1; }
  echo "fuzz: $target ok: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$corpus.log")"
done
