#include "io_ring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/socket.h>

struct chat_io_ring {
    struct io_uring ring;
    unsigned queued; /* operations queued since the last submission */
    int broken;
};

static int supports_send_and_recv(struct io_uring *ring) {
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (!probe) return 0;
    int ok = io_uring_opcode_supported(probe, IORING_OP_SEND) && io_uring_opcode_supported(probe, IORING_OP_RECV);
    io_uring_free_probe(probe);
    return ok;
}

chat_io_ring *chat_io_ring_create(unsigned entries, int *error) {
    chat_io_ring *ring = calloc(1, sizeof *ring);
    if (!ring) { *error = ENOMEM; return NULL; }
    /* SUBMIT_ALL: one bad send does not stop the rest; COOP_TASKRUN and SINGLE_ISSUER:
     * only this thread submits, no interrupts to run completions. Older kernels
     * reject the flags they do not know: then plain. liburing returns -errno. */
    struct io_uring_params p = {
        .flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER};
    int r = io_uring_queue_init_params(entries, &ring->ring, &p);
    if (r == -EINVAL) r = io_uring_queue_init(entries, &ring->ring, 0);
    if (r < 0) { free(ring); *error = -r; return NULL; }
    if (!supports_send_and_recv(&ring->ring)) {
        io_uring_queue_exit(&ring->ring);
        free(ring);
        *error = EOPNOTSUPP;
        return NULL;
    }
    return ring;
}

void chat_io_ring_destroy(chat_io_ring *ring) {
    if (!ring) return;
    io_uring_queue_exit(&ring->ring);
    free(ring);
}

int chat_io_ring_queue_send(chat_io_ring *ring, int fd, const void *bytes, unsigned length, uint64_t tag) {
    struct io_uring_sqe *sqe = ring->broken ? NULL : io_uring_get_sqe(&ring->ring);
    if (!sqe) return -1;
    /* MSG_DONTWAIT: never waits, EAGAIN comes back as the result */
    io_uring_prep_send(sqe, fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag);
    ring->queued++;
    return 0;
}

int chat_io_ring_queue_recv(chat_io_ring *ring, int fd, void *buffer, unsigned capacity, uint64_t tag) {
    struct io_uring_sqe *sqe = ring->broken ? NULL : io_uring_get_sqe(&ring->ring);
    if (!sqe) return -1;
    io_uring_prep_recv(sqe, fd, buffer, capacity, MSG_DONTWAIT);
    io_uring_sqe_set_data64(sqe, tag);
    ring->queued++;
    return 0;
}

unsigned chat_io_ring_queued(const chat_io_ring *ring) { return ring->queued; }

int chat_io_ring_submit(chat_io_ring *ring) {
    unsigned count = ring->queued;
    if (count == 0) return 0;
    if (ring->broken) return -EBADFD;
    /* Each operation completes inside the call (MSG_DONTWAIT: a full or empty socket
     * answers EAGAIN instead of waiting); waiting for `count` results only makes sure
     * every result is in the completion queue when this returns. The rounds are
     * bounded: a kernel that keeps refusing (EINTR, EAGAIN, EBUSY) or stops making
     * progress leaves the ring unusable rather than the loop spinning. A retry
     * submits only what the kernel has not taken (liburing counts from its head). */
    for (int rounds = 0;; rounds++) {
        if (io_uring_sq_ready(&ring->ring) == 0 && io_uring_cq_ready(&ring->ring) >= count) break;
        int r = rounds < 1000 ? io_uring_submit_and_wait(&ring->ring, count) : -EIO;
        if (r == -EINTR || r == -EAGAIN || r == -EBUSY) continue;
        if (r < 0) {
            /* Unusable: operations the kernel has not taken must never be made later,
             * when their bytes are gone; the ring is not entered again. */
            ring->broken = 1;
            ring->queued = 0;
            return r;
        }
    }
    ring->queued = 0;
    return 0;
}

int chat_io_ring_next(chat_io_ring *ring, uint64_t *tag, int32_t *result) {
    unsigned head;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&ring->ring, head, cqe) {
        *tag = io_uring_cqe_get_data64(cqe);
        *result = cqe->res;
        io_uring_cq_advance(&ring->ring, 1);
        return 1;
    }
    return 0;
}
