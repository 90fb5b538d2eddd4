#!/usr/bin/env bash
# Builds the package's libFuzzer target for ChatCore's parsers (Sources/ChatFuzz) with
# SwiftPM into .build-fuzz (release, libFuzzer and AddressSanitizer; plain `swift build`
# and .build are untouched) and runs each of its three targets (http, frames, protocol).
#   scripts/fuzz.sh RUNS [SECONDS]   at most RUNS inputs and SECONDS per target
# Seeds: Fuzz/seeds/<target>; the growing corpus and any crash inputs go to
# build/fuzz/<target> (crash-*, printed by libFuzzer). Exit status 1 on any finding.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
runs=${1:-100000} seconds=${2:-60}
# Not `swift build --sanitize=fuzzer`: with it SwiftPM compiles every executable as a
# library for libFuzzer's main, the EmbedLua build tool too, whose top-level code then does
# not compile (and SwiftPM 6.3 passes two --sanitize to the compiler in a random order, of
# which it keeps the last). Instead: ASan by --sanitize=address, libFuzzer's coverage (what
# -sanitize=fuzzer turns on) for every module, ChatCore included, and its driver without its
# main (libclang_rt.fuzzer_no_main, from the toolchain), which ChatFuzz's main calls under
# -DCHAT_FUZZ. Exclusivity checks back on (the package turns them off for speed): a finding too.
toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")
libfuzzer=$(compgen -G "$toolchain/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-$(uname -m).a" | head -n 1) || {
  echo "fuzz: no libclang_rt.fuzzer_no_main in $toolchain/lib/clang" >&2
  exit 1
}
build=(swift build -c release --sanitize=address --scratch-path .build-fuzz --product ChatFuzz
  -Xswiftc "-sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp" -Xswiftc -DCHAT_FUZZ
  -Xswiftc -enforce-exclusivity=checked -Xlinker "$libfuzzer" -Xlinker -lstdc++)
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
