/*
 * The harness's traffic phases over one connected pair of comms, both
 * directions at once (harness.c describes them and the order they run in).
 */
#define _GNU_SOURCE
#include <string.h>

#include "harness.h"

/* Messages per size: enough to wrap the ring at least once (twice for 1 MiB and up, to bound run time on rxe). */
#define RING_SLOTS 8
#define RING_MESSAGES(size) ((size) >= (1u << 20) ? 12u : 24u)

static uint8_t pattern(int from, uint32_t message, size_t i) {
    return (uint8_t)(i * 131u + message * 7u + (uint32_t)from * 29u + (i >> 8));
}

static void fill(uint8_t* p, size_t n, uint32_t message) {
    for (size_t i = 0; i < n; i++) p[i] = pattern(rank, message, i);
}

static void verify(const uint8_t* p, size_t n, uint32_t message, const char* what) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(1 - rank, message, i))
            FAIL("%s message %u: byte %zu of %zu is %u, expected %u", what, message, i, n, p[i],
                 pattern(1 - rank, message, i));
    }
}


/* Spins test until done; returns the reported sizes in sizes[]. */
static int poll_once(struct session* s, void* request, int* sizes) {
    int done = 0;
    CHECK(PLUGIN_V8(&s->p)->test(request, &done, sizes));
    return done;
}

void phase_ring(struct session* s, size_t size) {
    int slots = RING_SLOTS;
    while ((size_t)slots * size > BUFFER_BYTES) slots /= 2;
    size_t stride = BUFFER_BYTES / (size_t)slots;
    void* sendReq[RING_SLOTS] = {0};
    void* recvReq[RING_SLOTS] = {0};
    uint32_t sent = 0, sendsDone = 0, posted = 0, received = 0;
    const uint32_t messages = RING_MESSAGES(size);
    double deadline = now() + PHASE_SECONDS;
    while (sendsDone < messages || received < messages) {
        if (now() > deadline) FAIL("ring of %zu-byte messages stalled (%u sent, %u received)", size, sendsDone, received);
        /* irecv into a free slot; every third receive is larger than the message. */
        if (posted < messages && recvReq[posted % slots] == NULL && posted - received < (uint32_t)slots) {
            int slot = (int)(posted % slots);
            void* data = s->recvBuffer + (size_t)slot * stride;
            size_t capacity = posted % 3 == 0 && size + 64 <= stride ? size + 64 : size;
            int tag = slot;
            memset(data, 0xEE, capacity);
            CHECK(plugin_irecv(&s->p, s->recvComm, 1, &data, &capacity, &tag, &s->recvMr, &recvReq[slot]));
            if (recvReq[slot]) posted++;
        }
        if (sent < messages && sendReq[sent % slots] == NULL && sent - sendsDone < (uint32_t)slots) {
            int slot = (int)(sent % slots);
            uint8_t* data = s->sendBuffer + (size_t)slot * stride;
            fill(data, size, sent + (uint32_t)size);
            CHECK(plugin_isend(&s->p, s->sendComm, data, size, slot, s->sendMr, &sendReq[slot]));
            if (sendReq[slot]) sent++;
        }
        int slot = (int)(sendsDone % slots);
        int sizes[NCCL_NET_MAX_REQUESTS];
        if (sendReq[slot] && poll_once(s, sendReq[slot], sizes)) {
            if (sizes[0] != (int)size) FAIL("send of %zu bytes reported %d", size, sizes[0]);
            sendReq[slot] = NULL;
            sendsDone++;
        }
        slot = (int)(received % slots);
        if (recvReq[slot] && poll_once(s, recvReq[slot], sizes)) {
            if (sizes[0] != (int)size) FAIL("receive of a %zu-byte message reported %d", size, sizes[0]);
            verify(s->recvBuffer + (size_t)slot * stride, size, received + (uint32_t)size, "ring");
            recvReq[slot] = NULL;
            received++;
        }
    }
}

void phase_grouped(struct session* s, int n) {
    void* data[8];
    size_t capacity[8];
    int tags[8], sizes[8];
    void* mrs[8];
    void* sendReq[8] = {0};
    void* recvReq = NULL;
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        size_t bytes = 1000u * (size_t)(i + 1) + (size_t)n;
        data[i] = s->recvBuffer + offset;
        capacity[i] = bytes + 16u * (size_t)i; /* a receive may be larger than its message */
        tags[i] = 100 + i;
        mrs[i] = s->recvMr;
        memset(data[i], 0xEE, capacity[i]);
        offset += capacity[i] + 4096;
    }
    double deadline = now() + PHASE_SECONDS;
    while (recvReq == NULL) {
        if (now() > deadline) FAIL("grouped irecv n=%d never accepted", n);
        CHECK(plugin_irecv(&s->p, s->recvComm, n, data, capacity, tags, mrs, &recvReq));
    }
    int posted = 0, sendsDone = 0, received = 0;
    /* Sends in reverse tag order: matching is by tag, not by order. */
    size_t sendOffset = 0;
    while (sendsDone < n || !received) {
        if (now() > deadline)
            FAIL("grouped n=%d stalled: %d of %d sends posted, %d done, receive %s", n, posted, n, sendsDone,
                 received ? "done" : "pending");
        if (posted < n) {
            int i = n - 1 - posted;
            size_t bytes = 1000u * (size_t)(i + 1) + (size_t)n;
            uint8_t* src = s->sendBuffer + sendOffset;
            fill(src, bytes, 1000u + (uint32_t)(n * 8 + i));
            CHECK(plugin_isend(&s->p, s->sendComm, src, bytes, 100 + i, s->sendMr, &sendReq[i]));
            if (sendReq[i]) {
                posted++;
                sendOffset += bytes + 4096;
            }
        }
        for (int i = 0; i < n; i++) {
            int one[1];
            if (sendReq[i] && poll_once(s, sendReq[i], one)) {
                sendReq[i] = NULL;
                sendsDone++;
            }
        }
        if (!received && poll_once(s, recvReq, sizes)) {
            received = 1;
            for (int i = 0; i < n; i++) {
                size_t bytes = 1000u * (size_t)(i + 1) + (size_t)n;
                if (sizes[i] != (int)bytes) FAIL("grouped n=%d buffer %d reported %d, sent %zu", n, i, sizes[i], bytes);
                verify(data[i], bytes, 1000u + (uint32_t)(n * 8 + i), "grouped");
            }
        }
    }
}

/* With 32 requests outstanding, one more irecv must answer a NULL request and ncclSuccess: NCCL retries it. */
static void expect_retry(struct session* s, int n, size_t offset) {
    void* data[8];
    size_t capacity[8];
    int tags[8];
    void* mrs[8];
    for (int i = 0; i < n; i++) {
        data[i] = s->recvBuffer + offset + (size_t)i * 4096;
        capacity[i] = 4096;
        tags[i] = 900 + i;
        mrs[i] = s->recvMr;
    }
    void* extra = NULL;
    CHECK(plugin_irecv(&s->p, s->recvComm, n, data, capacity, tags, mrs, &extra));
    if (extra) FAIL("irecv of %d buffer(s) accepted past %d outstanding requests", n, NCCL_NET_MAX_REQUESTS);
}

void phase_burst(struct session* s) {
    enum { COUNT = NCCL_NET_MAX_REQUESTS, BYTES = 4096 };
    void* sendReq[COUNT] = {0};
    void* recvReq[COUNT] = {0};
    int recvPosted = 0, sendPosted = 0, done = 0;
    double deadline = now() + PHASE_SECONDS;
    while (recvPosted < COUNT) {
        if (now() > deadline) FAIL("burst: only %d of %d receives accepted", recvPosted, COUNT);
        void* data = s->recvBuffer + (size_t)recvPosted * BYTES;
        size_t capacity = BYTES;
        int tag = 200 + recvPosted;
        CHECK(plugin_irecv(&s->p, s->recvComm, 1, &data, &capacity, &tag, &s->recvMr, &recvReq[recvPosted]));
        if (recvReq[recvPosted]) recvPosted++;
    }
    expect_retry(s, 1, (size_t)COUNT * BYTES);
    while (done < 2 * COUNT) {
        if (now() > deadline) FAIL("burst stalled: %d sends posted, %d of %d requests done", sendPosted, done, 2 * COUNT);
        if (sendPosted < COUNT) {
            uint8_t* src = s->sendBuffer + (size_t)sendPosted * BYTES;
            fill(src, BYTES, 5000u + (uint32_t)sendPosted);
            CHECK(plugin_isend(&s->p, s->sendComm, src, BYTES, 200 + sendPosted, s->sendMr, &sendReq[sendPosted]));
            if (sendReq[sendPosted]) sendPosted++;
        }
        for (int i = 0; i < COUNT; i++) {
            int sizes[1];
            /* NCCL tests sends with sizes == NULL when it does not need them (net.cc). */
            if (sendReq[i] && poll_once(s, sendReq[i], NULL)) {
                sendReq[i] = NULL;
                done++;
            }
            if (recvReq[i] && poll_once(s, recvReq[i], sizes)) {
                if (sizes[0] != BYTES) FAIL("burst receive %d reported %d", i, sizes[0]);
                verify(s->recvBuffer + (size_t)i * BYTES, BYTES, 5000u + (uint32_t)i, "burst");
                recvReq[i] = NULL;
                done++;
            }
        }
    }
}

/* 32 outstanding grouped receives of maxRecvs (8) buffers each, filled by 256 isends that keep at most 32 outstanding. */
void phase_grouped_burst(struct session* s) {
    enum { COUNT = NCCL_NET_MAX_REQUESTS, N = 8, BYTES = 4096 };
    void* recvReq[COUNT] = {0};
    void* sendReq[COUNT] = {0};
    int recvPosted = 0, sent = 0, sendsDone = 0, received = 0;
    double deadline = now() + PHASE_SECONDS;
    while (recvPosted < COUNT) {
        if (now() > deadline) FAIL("grouped burst: only %d of %d grouped receives accepted", recvPosted, COUNT);
        void* data[N];
        size_t capacity[N];
        int tags[N];
        void* mrs[N];
        for (int j = 0; j < N; j++) {
            data[j] = s->recvBuffer + (size_t)(recvPosted * N + j) * BYTES;
            capacity[j] = BYTES;
            tags[j] = 400 + recvPosted * N + j;
            mrs[j] = s->recvMr;
        }
        CHECK(plugin_irecv(&s->p, s->recvComm, N, data, capacity, tags, mrs, &recvReq[recvPosted]));
        if (recvReq[recvPosted]) recvPosted++;
    }
    expect_retry(s, N, (size_t)COUNT * N * BYTES);
    while (sendsDone < COUNT * N || received < COUNT) {
        if (now() > deadline)
            FAIL("grouped burst stalled: %d of %d sends done, %d of %d receives", sendsDone, COUNT * N, received, COUNT);
        for (int k = 0; k < COUNT && sent < COUNT * N; k++) {
            if (sendReq[k]) continue;
            uint8_t* src = s->sendBuffer + (size_t)sent * BYTES;
            fill(src, BYTES, 7000u + (uint32_t)sent);
            CHECK(plugin_isend(&s->p, s->sendComm, src, BYTES, 400 + sent, s->sendMr, &sendReq[k]));
            if (!sendReq[k]) break;
            sent++;
        }
        for (int k = 0; k < COUNT; k++) {
            if (sendReq[k] && poll_once(s, sendReq[k], NULL)) {
                sendReq[k] = NULL;
                sendsDone++;
            }
            int sizes[N];
            if (recvReq[k] && poll_once(s, recvReq[k], sizes)) {
                for (int j = 0; j < N; j++) {
                    int m = k * N + j;
                    if (sizes[j] != BYTES) FAIL("grouped burst receive %d buffer %d reported %d", k, j, sizes[j]);
                    verify(s->recvBuffer + (size_t)m * BYTES, BYTES, 7000u + (uint32_t)m, "grouped burst");
                }
                recvReq[k] = NULL;
                received++;
            }
        }
    }
}

