#ifndef CHAT_CLIBEVENT_SHIM_H
#define CHAT_CLIBEVENT_SHIM_H
/* libc headers first: event2/event-config.h defines _GNU_SOURCE, and if it is
 * seen before any libc header the module's fd_set differs from SwiftGlibc's. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <event2/event.h>
#include <event2/buffer.h>

/* errno is a macro around a function call; Swift sees it through Glibc, but a
 * helper keeps call sites in the I/O layer uniform. */
static inline int chat_errno(void) { return errno; }

/* prctl is variadic, which Swift cannot call: a worker asks to get `sig` when its
 * supervisor dies, so that workers never outlive it. */
static inline int chat_set_parent_death_signal(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
/* The name ps, top and pkill show (a worker is spawned as /proc/self/exe: "exe"). */
static inline int chat_set_process_name(const char *name) { return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0); }
#endif
