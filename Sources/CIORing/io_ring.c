#include "io_ring.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

struct chat_io_ring {
    int fd;
    unsigned entries;
    unsigned *sq_head, *sq_tail, sq_mask;
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail, cq_mask;
    struct io_uring_cqe *cqes;
    void *sq_map, *cq_map;
    size_t sq_map_size, cq_map_size, sqes_size;
    unsigned tail;   /* our submission tail, published to the kernel at submit */
    unsigned queued; /* sends queued since the last submission */
    int broken;
};

static int ring_setup(unsigned entries, struct io_uring_params *p, unsigned flags) {
    memset(p, 0, sizeof *p);
    p->flags = flags;
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int ring_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

static int supports_send_and_recv(int fd) {
    size_t size = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, size);
    if (!probe) return 0;
    int ok = syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, probe, 256) == 0
        && probe->last_op >= IORING_OP_RECV
        && (probe->ops[IORING_OP_SEND].flags & IO_URING_OP_SUPPORTED)
        && (probe->ops[IORING_OP_RECV].flags & IO_URING_OP_SUPPORTED);
    free(probe);
    return ok;
}

chat_io_ring *chat_io_ring_create(unsigned entries, int *error) {
    struct io_uring_params p;
    /* SUBMIT_ALL: one bad send does not stop the rest; COOP_TASKRUN and SINGLE_ISSUER:
     * only this thread submits, no interrupts to run completions. Older kernels
     * reject the flags they do not know: then plain. */
    int fd = ring_setup(entries, &p, IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER);
    if (fd < 0 && errno == EINVAL) fd = ring_setup(entries, &p, 0);
    if (fd < 0) { *error = errno; return NULL; }
    if (!supports_send_and_recv(fd)) { close(fd); *error = EOPNOTSUPP; return NULL; }

    chat_io_ring *ring = calloc(1, sizeof *ring);
    if (!ring) { close(fd); *error = ENOMEM; return NULL; }
    ring->fd = fd;
    ring->entries = p.sq_entries;
    ring->sq_map_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    ring->cq_map_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single) {
        if (ring->cq_map_size > ring->sq_map_size) ring->sq_map_size = ring->cq_map_size;
        ring->cq_map_size = ring->sq_map_size;
    }
    ring->sq_map = mmap(NULL, ring->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (ring->sq_map == MAP_FAILED) goto fail;
    ring->cq_map = single ? ring->sq_map
        : mmap(NULL, ring->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    if (ring->cq_map == MAP_FAILED) { ring->cq_map = NULL; goto fail; }
    ring->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
    ring->sqes = mmap(NULL, ring->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (ring->sqes == MAP_FAILED) { ring->sqes = NULL; goto fail; }

    char *sq = ring->sq_map, *cq = ring->cq_map;
    ring->sq_head = (unsigned *)(sq + p.sq_off.head);
    ring->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    ring->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++) array[i] = i; /* slot i is always sqe i */
    ring->cq_head = (unsigned *)(cq + p.cq_off.head);
    ring->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    ring->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    ring->tail = *ring->sq_tail;
    return ring;
fail:
    *error = errno;
    chat_io_ring_destroy(ring);
    return NULL;
}

void chat_io_ring_destroy(chat_io_ring *ring) {
    if (!ring) return;
    if (ring->sqes) munmap(ring->sqes, ring->sqes_size);
    if (ring->cq_map && ring->cq_map != ring->sq_map && ring->cq_map != MAP_FAILED) munmap(ring->cq_map, ring->cq_map_size);
    if (ring->sq_map && ring->sq_map != MAP_FAILED) munmap(ring->sq_map, ring->sq_map_size);
    close(ring->fd);
    free(ring);
}

static int queue(chat_io_ring *ring, uint8_t opcode, int fd, const void *bytes, unsigned length, int flags, uint64_t tag) {
    if (ring->broken || ring->queued >= ring->entries) return -1;
    struct io_uring_sqe *sqe = &ring->sqes[ring->tail & ring->sq_mask];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = opcode;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)bytes;
    sqe->len = length;
    sqe->msg_flags = flags; /* MSG_DONTWAIT: never waits, EAGAIN comes back as the result */
    sqe->user_data = tag;
    ring->tail++;
    ring->queued++;
    return 0;
}

int chat_io_ring_queue_send(chat_io_ring *ring, int fd, const void *bytes, unsigned length, uint64_t tag) {
    return queue(ring, IORING_OP_SEND, fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL, tag);
}

int chat_io_ring_queue_recv(chat_io_ring *ring, int fd, void *buffer, unsigned capacity, uint64_t tag) {
    return queue(ring, IORING_OP_RECV, fd, buffer, capacity, MSG_DONTWAIT, tag);
}

unsigned chat_io_ring_queued(const chat_io_ring *ring) { return ring->queued; }

int chat_io_ring_submit(chat_io_ring *ring) {
    unsigned count = ring->queued;
    if (count == 0) return 0;
    if (ring->broken) return -EBADFD;
    __atomic_store_n(ring->sq_tail, ring->tail, __ATOMIC_RELEASE);
    unsigned head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    unsigned start = ring->tail - count;
    /* Each operation completes inside the call (MSG_DONTWAIT: a full or empty socket
     * answers EAGAIN instead of waiting); waiting for `count` results only makes sure
     * every result is in the completion queue when this returns. The rounds are
     * bounded: a kernel that keeps refusing (EINTR, EAGAIN, EBUSY) or stops making
     * progress leaves the ring unusable rather than the loop spinning. */
    for (int rounds = 0;; rounds++) {
        unsigned consumed = head - start;
        unsigned completed = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE) - *ring->cq_head;
        if (consumed >= count && completed >= count) break;
        int r = rounds < 1000 ? ring_enter(ring->fd, count - consumed, count - completed, IORING_ENTER_GETEVENTS) : -1;
        if (r < 0) {
            if (rounds >= 1000) errno = EIO;
            else if (errno == EINTR || errno == EAGAIN || errno == EBUSY) { head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE); continue; }
            /* Unusable: operations the kernel has not taken must never be made later,
             * when their bytes are gone; the ring is not entered again. */
            int e = errno;
            ring->broken = 1;
            ring->queued = 0;
            return -e;
        }
        head = __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    }
    ring->queued = 0;
    return 0;
}

int chat_io_ring_next(chat_io_ring *ring, uint64_t *tag, int32_t *result) {
    unsigned head = *ring->cq_head;
    if (head == __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE)) return 0;
    struct io_uring_cqe *cqe = &ring->cqes[head & ring->cq_mask];
    *tag = cqe->user_data;
    *result = cqe->res;
    __atomic_store_n(ring->cq_head, head + 1, __ATOMIC_RELEASE);
    return 1;
}
