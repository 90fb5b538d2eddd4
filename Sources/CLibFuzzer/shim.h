#ifndef CHAT_CLIBFUZZER_SHIM_H
#define CHAT_CLIBFUZZER_SHIM_H
/* libFuzzer's driver, for ChatFuzz's main in the fuzz build (scripts/fuzz.sh links
 * libclang_rt.fuzzer_no_main from the toolchain then; nothing else refers to it). */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
