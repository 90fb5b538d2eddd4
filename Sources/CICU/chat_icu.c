/* ICU's spoof checker (UTS #39), for the confusable skeletons of nicknames
 * (Sources/Confusables). ICU renames every C function after its version through
 * macros (uspoof_open is uspoof_open_72 in Debian 12's ICU 72), and Swift imports no
 * macros: these wrappers have stable names and call ICU through its macros, so the
 * Swift code builds against any ICU version. Only the skeleton is used: the checks
 * uspoof_open configures play no part in uspoof_getSkeletonUTF8. */
#include "chat_icu.h"

#include <stdint.h>
#include <unicode/utypes.h>
#include <unicode/uspoof.h>

/* A checker, or NULL with *status set (an ICU UErrorCode). */
void *chat_spoof_open(int32_t *status) {
    UErrorCode error = U_ZERO_ERROR;
    USpoofChecker *checker = uspoof_open(&error);
    *status = (int32_t)error;
    if (U_FAILURE(error)) {
        if (checker) uspoof_close(checker);
        return NULL;
    }
    return checker;
}

void chat_spoof_close(void *checker) { uspoof_close((USpoofChecker *)checker); }

/* Writes the UTS #39 skeleton of the UTF-8 text (NFD, without a terminating NUL
 * when it fills `capacity`) and returns its length in bytes; if that exceeds
 * `capacity`, nothing useful was written: call again with a larger buffer. Returns
 * -1 on any other error (*status says which). Safe to call from several threads on
 * one checker (the checker is const here). */
int32_t chat_spoof_skeleton(const void *checker, const char *text, int32_t length, char *out, int32_t capacity,
                            int32_t *status) {
    UErrorCode error = U_ZERO_ERROR;
    int32_t n = uspoof_getSkeletonUTF8((const USpoofChecker *)checker, 0, text, length, out, capacity, &error);
    *status = (int32_t)error;
    if (error == U_BUFFER_OVERFLOW_ERROR || error == U_STRING_NOT_TERMINATED_WARNING) return n;
    return U_FAILURE(error) ? -1 : n;
}

/* The name of an ICU error code, for messages. */
const char *chat_icu_error_name(int32_t status) { return u_errorName((UErrorCode)status); }
