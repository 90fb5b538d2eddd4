#ifndef CHAT_SEND_RING_H
#define CHAT_SEND_RING_H
/* A minimal io_uring submission ring for one job: many non-blocking send()s to
 * different sockets in one system call (a channel's batch to each of its members).
 * Raw system calls, no liburing: the kernel's <linux/io_uring.h> is enough for this.
 * Single-threaded: one ring per worker process, used from its event loop only. */
#include <stdint.h>

typedef struct chat_send_ring chat_send_ring;

/* A ring with room for `entries` sends per submission, or NULL with *error set
 * (ENOSYS: no io_uring; EPERM: forbidden, e.g. by a container's seccomp profile;
 * EOPNOTSUPP: io_uring without the send operation). */
chat_send_ring *chat_send_ring_create(unsigned entries, int *error);
void chat_send_ring_destroy(chat_send_ring *ring);

/* Queues send(fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL); `tag` comes back with
 * its result. Returns 0, or -1 when the ring is full (submit first). The bytes must
 * stay valid until chat_send_ring_submit returns. */
int chat_send_ring_queue(chat_send_ring *ring, int fd, const void *bytes, unsigned length, uint64_t tag);

/* Sends queued since the last submission. */
unsigned chat_send_ring_queued(const chat_send_ring *ring);

/* Submits every queued send and waits for all their results (none blocks: they are
 * non-blocking sends, so "waiting" only collects what completed inside the call).
 * Returns 0, or -errno when the kernel refused; then the ring is unusable, and any
 * queued send without a result was not made. */
int chat_send_ring_submit(chat_send_ring *ring);

/* The next result: returns 1 with *tag and *result (bytes sent, or -errno), or 0. */
int chat_send_ring_next(chat_send_ring *ring, uint64_t *tag, int32_t *result);
#endif
