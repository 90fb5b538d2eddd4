#ifndef CHAT_ICU_H
#define CHAT_ICU_H
/* ICU's spoof checker (UTS #39), for the confusable skeletons of nicknames
 * (Sources/Confusables), behind plain C types: no ICU header is seen by Swift. The
 * toolchain's Foundation carries its own copy of ICU's headers (_FoundationICU), and
 * a module that sees both (a test module importing XCTest and the server) fails with
 * "'UErrorCode' has different definitions in different modules". The checker is an
 * opaque pointer; statuses are ICU's UErrorCode values as int32_t. */
#include <stdint.h>

/* A checker, or NULL with *status set. */
void *chat_spoof_open(int32_t *status);

void chat_spoof_close(void *checker);

/* Writes the UTS #39 skeleton of the UTF-8 text (NFD, without a terminating NUL
 * when it fills `capacity`) and returns its length in bytes; if that exceeds
 * `capacity`, nothing useful was written: call again with a larger buffer. Returns
 * -1 on any other error (*status says which). Safe to call from several threads on
 * one checker (the checker is const here). */
int32_t chat_spoof_skeleton(const void *checker, const char *text, int32_t length, char *out, int32_t capacity,
                            int32_t *status);

/* The name of an ICU error code, for messages. */
const char *chat_icu_error_name(int32_t status);
#endif
