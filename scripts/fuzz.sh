#!/usr/bin/env bash
# Builds the package's libFuzzer target for ChatCore's parsers (Sources/ChatFuzz) with
# SwiftPM into .build-fuzz (release, libFuzzer and AddressSanitizer; plain `swift build`
# and .build are untouched) and runs each of its three targets (http,
# frames, protocol).
#   scripts/fuzz.sh RUNS [SECONDS]   at most RUNS inputs and SECONDS per target
# Seeds: Fuzz/seeds/<target>; the growing corpus and any crash inputs go to
# build/fuzz/<target> (crash-*, printed by libFuzzer). Exit status 1 on any finding.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
runs=${1:-100000} seconds=${2:-60}
# CHAT_FUZZ leaves out the replayer's @main: libFuzzer's main drives the target. SwiftPM
# compiles ChatCore with the same instrumentation, so coverage guides the inputs; with
# exclusivity checks back on (the package turns them off for speed), a finding too.
# --sanitize=fuzzer tells SwiftPM to let libFuzzer's main in; the sanitizers themselves come
# as one -Xswiftc -sanitize=fuzzer,address: given `--sanitize=fuzzer --sanitize=address`,
# SwiftPM 6.3 passes two -sanitize= options in an order that changes from run to run, and
# the compiler keeps only the last (a build without coverage, or without ASan, and a
# rebuild whenever the order changes).
build=(swift build -c release --sanitize=fuzzer -Xswiftc "-sanitize=fuzzer,address"
  -Xswiftc -DCHAT_FUZZ -Xswiftc -enforce-exclusivity=checked --scratch-path .build-fuzz --product ChatFuzz)
# ld.gold warns about asan symbols it cannot export; harmless, so filtered out.
"${build[@]}" 2>&1 | { grep -v -e "Cannot export local symbol '__asan" -e '^\[[0-9]*/[0-9]*\]' || true; }
bin=$("${build[@]}" --show-bin-path)/ChatFuzz
# A Swift runtime trap goes straight to libFuzzer's crash handler (the runtime's own
# backtracer can hang there, under ASan, instead of exiting).
export SWIFT_BACKTRACE=enable=no
for target in http frames protocol; do
  corpus=build/fuzz/$target
  mkdir -p "$corpus"
  FUZZ_TARGET=$target "$bin" -runs="$runs" -max_total_time="$seconds" -max_len=4096 \
    -artifact_prefix="$corpus/" "$corpus" "Fuzz/seeds/$target" >"$corpus.log" 2>&1 || {
      echo "fuzz: $target FAILED (see $corpus.log)"; tail -n 30 "$corpus.log"; exit 1; }
  # No coverage counters would mean a build that fuzzes blind: a failure too.
  grep -q 'Loaded [0-9]* modules *([0-9]* inline 8-bit counters)' "$corpus.log" || {
    echo "fuzz: $target FAILED: $bin has no coverage instrumentation"
    exit 1
  }
  echo "fuzz: $target ok: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$corpus.log")"
done
