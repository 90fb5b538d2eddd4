#ifndef CHAT_CCRYPT_SHIM_H
#define CHAT_CCRYPT_SHIM_H
/* libxcrypt (Debian's libcrypt): channel passwords are stored as yescrypt hashes
 * ("$y$..."), salted from the OS's random source. These run on the password
 * thread, never on an event loop: a hash takes tens of milliseconds on purpose. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

enum { CHAT_HASH_SIZE = CRYPT_OUTPUT_SIZE };

/* Writes the hash of `password` to `out` (CHAT_HASH_SIZE bytes). 0 on success. */
static inline int chat_password_hash(const char *password, char *out) {
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting)) return -1;
    struct crypt_data *data = calloc(1, sizeof *data);
    if (!data) return -1;
    char *hash = crypt_r(password, setting, data);
    int ok = hash && hash[0] == '$';
    if (ok) { strncpy(out, hash, CHAT_HASH_SIZE - 1); out[CHAT_HASH_SIZE - 1] = 0; }
    free(data);
    return ok ? 0 : -1;
}

/* 1 when `password` matches `stored` (compared in constant time), else 0. */
static inline int chat_password_verify(const char *password, const char *stored) {
    struct crypt_data *data = calloc(1, sizeof *data);
    if (!data) return 0;
    char *hash = crypt_r(password, stored, data);
    int same = 0;
    if (hash && hash[0] == '$') {
        size_t n = strlen(stored);
        if (strlen(hash) == n) {
            unsigned char diff = 0;
            for (size_t i = 0; i < n; i++) diff |= (unsigned char)(hash[i] ^ stored[i]);
            same = diff == 0;
        }
    }
    free(data);
    return same;
}
#endif
