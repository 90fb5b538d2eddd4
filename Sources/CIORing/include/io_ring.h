#ifndef CHAT_IO_RING_H
#define CHAT_IO_RING_H
/* A minimal io_uring ring for one job: many non-blocking send()s or recv()s on
 * different sockets in one system call (the server: a channel's batch to each of its
 * members; the benchmark tool: every socket that became readable in a loop turn).
 * Raw system calls, no liburing: the kernel's <linux/io_uring.h> is enough for this,
 * and liburing's generic helpers cost more per send (docs/ARCHITECTURE.md, "The send ring").
 * Single-threaded: one ring per process, used from its event loop only. */
#include <stdint.h>

typedef struct chat_io_ring chat_io_ring;

/* A ring with room for `entries` operations per submission, or NULL with *error set
 * (ENOSYS: no io_uring; EPERM: forbidden, e.g. by a container's seccomp profile;
 * EOPNOTSUPP: io_uring without the send and recv operations, before Linux 5.6). */
chat_io_ring *chat_io_ring_create(unsigned entries, int *error);
void chat_io_ring_destroy(chat_io_ring *ring);

/* Queues send(fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL); `tag` comes back with
 * its result. Returns 0, or -1 when the ring is full (submit first). The bytes must
 * stay valid until chat_io_ring_submit returns. */
int chat_io_ring_queue_send(chat_io_ring *ring, int fd, const void *bytes, unsigned length, uint64_t tag);

/* Queues recv(fd, buffer, capacity, MSG_DONTWAIT), likewise. */
int chat_io_ring_queue_recv(chat_io_ring *ring, int fd, void *buffer, unsigned capacity, uint64_t tag);

/* Operations queued since the last submission. */
unsigned chat_io_ring_queued(const chat_io_ring *ring);

/* Submits every queued operation and waits for all their results (none blocks: they
 * are non-blocking, so "waiting" only collects what completed inside the call).
 * Returns 0, or -errno when the kernel refused; then the ring is unusable, and any
 * queued operation without a result was not made. */
int chat_io_ring_submit(chat_io_ring *ring);

/* The next result: returns 1 with *tag and *result (bytes sent or received, or
 * -errno), or 0. */
int chat_io_ring_next(chat_io_ring *ring, uint64_t *tag, int32_t *result);
#endif
