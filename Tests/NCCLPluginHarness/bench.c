/*
 * --bench: a sendrecv benchmark in the manner of nccl-tests' sendrecv_perf
 * with two ranks: per iteration each rank posts one receive from and one send
 * to the other and waits for both, so both directions run at once. For each
 * size, 4 KiB to 4 MiB (or --max-bytes) by 4x, the same loop runs twice back to back on the
 * same device:
 *   auth   through the plug-in's ABI (irecv, isend, test), every byte
 *          MAC-verified and staged through the plug-in's shadows
 *   plain  over a plain RC queue pair of this file's own (ibv_post_recv,
 *          ibv_post_send SEND, ibv_poll_cq): what a transport without
 *          FabricAuth costs on the same NIC
 * Rank 0 prints one line per size: time per iteration and algorithm
 * bandwidth (size / time; sendrecv's bus bandwidth is the same) for each, and
 * auth/plain. After the timed iterations one more of each carries a pattern
 * that is checked byte for byte, so a fast wrong answer cannot pass. Each rank
 * then prints the heap allocations made during its timed auth loops on
 * NCCL's thread and the MAC workers (allocations.c): the data path must make
 * none.
 * A measurement, not a timed test: docs/performance.md records its figures.
 */
#define _GNU_SOURCE
#include <infiniband/verbs.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define BENCH_MAX_BYTES (4u << 20)

static void bench_fill(uint8_t* p, size_t n, int from, int iteration) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 31u + (unsigned)from * 101u + (unsigned)iteration * 7u + (i >> 12));
}

static void bench_check(const uint8_t* p, size_t n, int from, int iteration, const char* what) {
    for (size_t i = 0; i < n; i++) {
        uint8_t want = (uint8_t)(i * 31u + (unsigned)from * 101u + (unsigned)iteration * 7u + (i >> 12));
        if (p[i] != want) FAIL("bench %s %zu B: byte %zu is %u, expected %u", what, n, i, p[i], want);
    }
}

/* One sendrecv through the plug-in; returns when both requests are done. */
static void auth_iteration(struct session* s, size_t size, int tag) {
    void* recvReq = NULL;
    void* sendReq = NULL;
    void* data = s->recvBuffer;
    size_t capacity = size;
    double deadline = now() + PHASE_SECONDS;
    while (!recvReq) {
        if (now() > deadline) FAIL("bench: irecv of %zu B never accepted", size);
        CHECK(plugin_irecv(&s->p, s->recvComm, 1, &data, &capacity, &tag, &s->recvMr, &recvReq));
    }
    int sent = 0, received = 0;
    while (!sent || !received) {
        if (now() > deadline) FAIL("bench: sendrecv of %zu B stalled", size);
        if (!sendReq) CHECK(plugin_isend(&s->p, s->sendComm, s->sendBuffer, size, tag, s->sendMr, &sendReq));
        int done = 0, sizes[1];
        if (sendReq && !sent) {
            CHECK(PLUGIN_V8(&s->p)->test(sendReq, &done, NULL));
            sent = done;
        }
        if (!received) {
            CHECK(PLUGIN_V8(&s->p)->test(recvReq, &done, sizes));
            if (done && sizes[0] != (int)size) FAIL("bench: received %d B, sent %zu", sizes[0], size);
            received = done;
        }
    }
}

/* A plain RC queue pair to the other rank over the same device. */
struct plain {
    struct ibv_context* ctx;
    struct ibv_pd* pd;
    struct ibv_cq* cq;
    struct ibv_qp* qp;
    struct ibv_mr* sendMr;
    struct ibv_mr* recvMr;
    uint8_t* sendBuffer;
    uint8_t* recvBuffer;
    /* Messages received and not yet consumed by an iteration: the peer may finish an iteration and send
       the next message before this rank has seen its own send complete. */
    int arrived;
};

struct plain_endpoint {
    uint32_t qpn, psn;
    union ibv_gid gid;
};

/* The GID the plug-in would choose without FABRICAUTH_GID_INDEX: RoCE v2 with an IPv4-mapped address. */
static int plain_gid_index(struct ibv_context* ctx) {
    const char* index = getenv("FABRICAUTH_GID_INDEX");
    if (!index) index = getenv("NCCL_IB_GID_INDEX");
    if (index) return atoi(index);
    for (uint32_t i = 0; i < 256; i++) {
        struct ibv_gid_entry entry;
        if (ibv_query_gid_ex(ctx, 1, i, &entry, 0) != 0) continue;
        const uint8_t* raw = entry.gid.raw;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (entry.gid_type == IBV_GID_TYPE_ROCE_V2 && memcmp(raw, mapped, 12) == 0) return (int)i;
    }
    FAIL("bench: no RoCE v2 IPv4 GID on port 1; set FABRICAUTH_GID_INDEX");
}

static void plain_post_recv(struct plain* q, size_t size) {
    struct ibv_sge sge = {.addr = (uintptr_t)q->recvBuffer, .length = (uint32_t)size, .lkey = q->recvMr->lkey};
    struct ibv_recv_wr wr = {.wr_id = 2, .sg_list = &sge, .num_sge = 1}, *bad;
    if (ibv_post_recv(q->qp, &wr, &bad) != 0) FAIL("bench: ibv_post_recv");
}

/* RESET to RTS towards the peer's endpoint (the ACK timeout and retries of the channel's ConnectionParameters). */
static void plain_connect(struct ibv_qp* qp, enum ibv_mtu mtu, int gidIndex, uint32_t psn, const struct plain_endpoint* peer) {
    struct ibv_qp_attr a = {.qp_state = IBV_QPS_INIT, .port_num = 1, .qp_access_flags = IBV_ACCESS_LOCAL_WRITE};
    if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
        FAIL("bench: QP to INIT");
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RTR;
    a.path_mtu = mtu;
    a.dest_qp_num = peer->qpn;
    a.rq_psn = peer->psn;
    a.max_dest_rd_atomic = 1;
    a.min_rnr_timer = 1;
    a.ah_attr.is_global = 1;
    a.ah_attr.grh.dgid = peer->gid;
    a.ah_attr.grh.sgid_index = (uint8_t)gidIndex;
    a.ah_attr.grh.hop_limit = 64;
    a.ah_attr.port_num = 1;
    if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                                  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
        FAIL("bench: QP to RTR");
    memset(&a, 0, sizeof a);
    a.qp_state = IBV_QPS_RTS;
    a.timeout = 14;
    a.retry_cnt = 7;
    a.rnr_retry = 7;
    a.sq_psn = psn;
    a.max_rd_atomic = 1;
    if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
                                  IBV_QP_MAX_QP_RD_ATOMIC))
        FAIL("bench: QP to RTS");
}

static void plain_open(struct plain* q, int fd) {
    int n = 0;
    struct ibv_device** list = ibv_get_device_list(&n);
    const char* wanted = getenv("FABRICAUTH_DEVICE");
    for (int i = 0; i < n && !q->ctx; i++)
        if (!wanted || !strcmp(ibv_get_device_name(list[i]), wanted)) q->ctx = ibv_open_device(list[i]);
    ibv_free_device_list(list);
    if (!q->ctx) FAIL("bench: no RDMA device%s%s", wanted ? " " : "", wanted ? wanted : "");
    struct ibv_port_attr port;
    if (ibv_query_port(q->ctx, 1, &port) != 0) FAIL("bench: ibv_query_port");
    int gidIndex = plain_gid_index(q->ctx);
    q->pd = ibv_alloc_pd(q->ctx);
    q->cq = ibv_create_cq(q->ctx, 16, NULL, NULL, 0);
    q->sendBuffer = aligned_alloc(4096, BENCH_MAX_BYTES);
    q->recvBuffer = aligned_alloc(4096, BENCH_MAX_BYTES);
    if (!q->pd || !q->cq || !q->sendBuffer || !q->recvBuffer) FAIL("bench: PD, CQ or buffers");
    q->sendMr = ibv_reg_mr(q->pd, q->sendBuffer, BENCH_MAX_BYTES, IBV_ACCESS_LOCAL_WRITE);
    q->recvMr = ibv_reg_mr(q->pd, q->recvBuffer, BENCH_MAX_BYTES, IBV_ACCESS_LOCAL_WRITE);
    struct ibv_qp_init_attr init = {.send_cq = q->cq, .recv_cq = q->cq, .qp_type = IBV_QPT_RC,
                                    .cap = {.max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1}};
    q->qp = ibv_create_qp(q->pd, &init);
    if (!q->sendMr || !q->recvMr || !q->qp) FAIL("bench: MR or QP");

    struct plain_endpoint mine = {.qpn = q->qp->qp_num, .psn = (uint32_t)(getpid() * 7919) & 0xffffff}, theirs;
    if (ibv_query_gid(q->ctx, 1, gidIndex, &mine.gid) != 0) FAIL("bench: ibv_query_gid %d", gidIndex);
    exchange(fd, &mine, &theirs, sizeof mine);

    plain_connect(q->qp, port.active_mtu, gidIndex, mine.psn, &theirs);
    /* Two receives ahead: the peer may send iteration i+1 before this rank has reposted after i. */
    plain_post_recv(q, BENCH_MAX_BYTES);
    plain_post_recv(q, BENCH_MAX_BYTES);
}

static void plain_iteration(struct plain* q, size_t size) {
    struct ibv_sge sge = {.addr = (uintptr_t)q->sendBuffer, .length = (uint32_t)size, .lkey = q->sendMr->lkey};
    struct ibv_send_wr wr = {.wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
                             .send_flags = IBV_SEND_SIGNALED}, *bad;
    if (ibv_post_send(q->qp, &wr, &bad) != 0) FAIL("bench: ibv_post_send");
    int sent = 0;
    double deadline = now() + PHASE_SECONDS;
    while (!sent || q->arrived == 0) {
        if (now() > deadline) {
            struct ibv_qp_attr attr;
            struct ibv_qp_init_attr init;
            ibv_query_qp(q->qp, &attr, IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_RQ_PSN | IBV_QP_DEST_QPN | IBV_QP_AV, &init);
            FAIL("bench: plain sendrecv of %zu B stalled (sent %d, received %d; QP %u state %d, dest QP %u, sq_psn %u, "
                 "rq_psn %u, sgid index %u)", size, sent, q->arrived, q->qp->qp_num, attr.qp_state, attr.dest_qp_num,
                 attr.sq_psn, attr.rq_psn, attr.ah_attr.grh.sgid_index);
        }
        struct ibv_wc wc[2];
        int n = ibv_poll_cq(q->cq, 2, wc);
        if (n < 0) FAIL("bench: ibv_poll_cq");
        for (int i = 0; i < n; i++) {
            if (wc[i].status != IBV_WC_SUCCESS) FAIL("bench: plain completion %s", ibv_wc_status_str(wc[i].status));
            if (wc[i].wr_id == 1) sent = 1;
            else {
                if (wc[i].byte_len != size) FAIL("bench: plain received %u B, sent %zu", wc[i].byte_len, size);
                q->arrived++;
                plain_post_recv(q, BENCH_MAX_BYTES);
            }
        }
    }
    q->arrived--;
}

static void plain_close(struct plain* q) {
    ibv_destroy_qp(q->qp);
    ibv_dereg_mr(q->sendMr);
    ibv_dereg_mr(q->recvMr);
    ibv_destroy_cq(q->cq);
    ibv_dealloc_pd(q->pd);
    ibv_close_device(q->ctx);
    free(q->sendBuffer);
    free(q->recvBuffer);
}

void run_bench(struct session* s, int fd, int iterations, size_t maxBytes) {
    struct plain q = {0};
    /* Heap allocations during the timed auth loops (allocations.c). */
    unsigned long long authAllocations = 0, otherAllocations = 0;
    int authIterations = 0;
    plain_open(&q, fd);
    if (rank == 0) fprintf(stderr, "bench: %8s %12s %10s %12s %10s %10s\n", "bytes", "auth us", "auth MB/s", "plain us",
                           "plain MB/s", "auth/plain");
    for (size_t size = 4096; size <= maxBytes && size <= BENCH_MAX_BYTES; size *= 4) {
        double seconds[2];
        for (int mode = 0; mode < 2; mode++) {
            barrier(fd);
            /* One untimed iteration first: the grant path, caches and page faults. */
            if (mode == 0) auth_iteration(s, size, 1);
            else plain_iteration(&q, size);
            barrier(fd);
            unsigned long long allocated = harness_allocations(), allocatedElsewhere = harness_other_allocations();
            double start = now();
            for (int i = 0; i < iterations; i++) {
                if (mode == 0) auth_iteration(s, size, 1);
                else plain_iteration(&q, size);
            }
            seconds[mode] = (now() - start) / iterations;
            if (mode == 0) {
                authAllocations += harness_allocations() - allocated;
                otherAllocations += harness_other_allocations() - allocatedElsewhere;
                authIterations += iterations;
            }
            /* One more carrying a pattern, checked byte for byte. */
            uint8_t* out = mode == 0 ? s->sendBuffer : q.sendBuffer;
            uint8_t* in = mode == 0 ? s->recvBuffer : q.recvBuffer;
            bench_fill(out, size, rank, (int)size + mode);
            memset(in, 0, size);
            barrier(fd);
            if (mode == 0) auth_iteration(s, size, 2);
            else plain_iteration(&q, size);
            bench_check(in, size, 1 - rank, (int)size + mode, mode == 0 ? "auth" : "plain");
        }
        if (rank == 0)
            fprintf(stderr, "bench: %8zu %12.1f %10.2f %12.1f %10.2f %10.3f\n", size, seconds[0] * 1e6,
                    (double)size / seconds[0] / 1e6, seconds[1] * 1e6, (double)size / seconds[1] / 1e6,
                    seconds[1] / seconds[0]);
    }
    /* Each rank's own count: the two processes allocate separately. */
    fprintf(stderr,
            "bench-allocations: rank %d: %llu heap allocations on NCCL's thread and the MAC workers in %d timed auth "
            "iterations (%llu on other threads)\n",
            rank, authAllocations, authIterations, otherAllocations);
    plain_close(&q);
}

/*
 * --bench-connect: what a connection costs. harness.c times each of the
 * --connections N connect/accept pairs through the plug-in (the first runs the
 * full handshake, the rest resume); this times N plain setups of what a pair
 * of comms stands for: two RC queue pairs per rank (one per direction), each
 * with its own PD and CQ as a channel has, their endpoints swapped over the
 * ranks' link, RESET to RTS. Returns the mean seconds per plain setup.
 */
double bench_plain_setups(int fd, int count) {
    struct plain q = {0};
    int n = 0;
    struct ibv_device** list = ibv_get_device_list(&n);
    const char* wanted = getenv("FABRICAUTH_DEVICE");
    for (int i = 0; i < n && !q.ctx; i++)
        if (!wanted || !strcmp(ibv_get_device_name(list[i]), wanted)) q.ctx = ibv_open_device(list[i]);
    ibv_free_device_list(list);
    if (!q.ctx) FAIL("bench: no RDMA device%s%s", wanted ? " " : "", wanted ? wanted : "");
    struct ibv_port_attr port;
    if (ibv_query_port(q.ctx, 1, &port) != 0) FAIL("bench: ibv_query_port");
    int gidIndex = plain_gid_index(q.ctx);
    double total = 0;
    for (int c = 0; c < count; c++) {
        struct ibv_pd* pd[2];
        struct ibv_cq* cq[2];
        struct ibv_qp* qp[2];
        barrier(fd);
        double start = now();
        struct plain_endpoint mine[2], theirs[2];
        for (int d = 0; d < 2; d++) {
            pd[d] = ibv_alloc_pd(q.ctx);
            cq[d] = pd[d] ? ibv_create_cq(q.ctx, 16, NULL, NULL, 0) : NULL;
            struct ibv_qp_init_attr init = {.send_cq = cq[d], .recv_cq = cq[d], .qp_type = IBV_QPT_RC,
                                            .cap = {.max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1}};
            qp[d] = cq[d] ? ibv_create_qp(pd[d], &init) : NULL;
            if (!qp[d]) FAIL("bench: plain setup %d: PD, CQ or QP", c);
            mine[d] = (struct plain_endpoint){.qpn = qp[d]->qp_num, .psn = (uint32_t)(c * 2 + d + 1) * 4099u & 0xffffff};
            if (ibv_query_gid(q.ctx, 1, gidIndex, &mine[d].gid) != 0) FAIL("bench: ibv_query_gid %d", gidIndex);
        }
        exchange(fd, mine, theirs, sizeof mine);
        /* This rank's QP d talks to the peer's QP 1 - d: one pair per direction. */
        for (int d = 0; d < 2; d++) plain_connect(qp[d], port.active_mtu, gidIndex, mine[d].psn, &theirs[1 - d]);
        /* Both ranks' QPs are in RTS once both pass here: the peer may send from now on. */
        barrier(fd);
        total += now() - start;
        for (int d = 0; d < 2; d++) {
            ibv_destroy_qp(qp[d]);
            ibv_destroy_cq(cq[d]);
            ibv_dealloc_pd(pd[d]);
        }
    }
    ibv_close_device(q.ctx);
    return total / count;
}
