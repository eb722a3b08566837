/*
 * Drives libnccl-net-fabricauth.so the way NCCL's proxy thread does
 * (NVIDIA/nccl v2.30.7 src/transport/net.cc, src/plugin/net/net_v8.cc), without
 * NCCL or a GPU: two ranks as two processes (fork), joined by a socketpair
 * that stands in for NCCL's bootstrap network.
 *
 *   harness PLUGIN.so [--abi 8..12] [--loads N] [--expect-refused]
 *
 * Each load: dlopen, find ncclNetPlugin_v<abi> (default: the newest, probing
 * v12 down to v8 as NCCL does), init (v11+: per communicator, twice), devices,
 * getProperties, listen, swap handles, spin connect/accept through NULL
 * comms, closeListen, regMr, then three phases in both directions at once:
 *   ring     8 slots of isend/irecv with tags, sizes 0 B .. 4 MiB, some
 *            receives larger than the message
 *   grouped  one irecv of n = 1..8 buffers against n isends
 *   burst    32 outstanding requests per comm (NCCL_NET_MAX_REQUESTS), and
 *            32 outstanding grouped receives of 8 buffers (getProperties'
 *            maxRecvs); a 33rd irecv returns a NULL request and ncclSuccess
 * busy-polling test and checking every byte and every reported size; then
 * deregMr, closeSend, closeRecv, finalize, dlclose. The next load dlopens again.
 *
 * Rank 0 uses FABRICAUTH_CERT/FABRICAUTH_KEY; rank 1 HARNESS_RANK1_CERT and
 * HARNESS_RANK1_KEY when set. With --expect-refused, every connect and accept
 * must fail with ncclSystemError (a rank outside the peer's policy) and no
 * data moves.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nccl_net_fabricauth.h"
#include "plugin_abi.h"

#define BUFFER_BYTES (8u << 20)
#define RING_SLOTS 8
/* Messages per size: enough to wrap the ring at least once (twice for 1 MiB and up, to bound run time on rxe). */
#define RING_MESSAGES(size) ((size) >= (1u << 20) ? 12u : 24u)
#define PHASE_SECONDS 120

static int rank = -1;
static int verifiedLines = 0;

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        fprintf(stderr, "rank %d: FAIL %s:%d: ", rank, __FILE__, __LINE__);                                           \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fprintf(stderr, "\n");                                                                                         \
        exit(1);                                                                                                       \
    } while (0)

#define CHECK(call)                                                                                                    \
    do {                                                                                                               \
        ncclResult_t rc_ = (call);                                                                                     \
        if (rc_ != ncclSuccess) FAIL("%s returned %d", #call, (int)rc_);                                               \
    } while (0)

static void logger(ncclDebugLogLevel level, unsigned long flags, const char* file, int line, const char* fmt, ...) {
    (void)flags;
    (void)file;
    (void)line;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (strstr(text, "verified")) verifiedLines++;
    fprintf(stderr, "rank %d [%s] %s\n", rank, level == NCCL_LOG_WARN ? "WARN" : "INFO", text);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void exchange(int fd, const void* mine, void* theirs, size_t n) {
    if (write(fd, mine, n) != (ssize_t)n) FAIL("write to peer rank");
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char*)theirs + got, n - got);
        if (r <= 0) FAIL("peer rank went away");
        got += (size_t)r;
    }
}

static void barrier(int fd) {
    char a = 'b', b;
    exchange(fd, &a, &b, 1);
}

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

struct session {
    struct plugin p;
    void* sendComm;
    void* recvComm;
    uint8_t* sendBuffer;
    uint8_t* recvBuffer;
    void* sendMr;
    void* recvMr;
};

/* Spins test until done; returns the reported sizes in sizes[]. */
static int poll_once(struct session* s, void* request, int* sizes) {
    int done = 0;
    CHECK(PLUGIN_V8(&s->p)->test(request, &done, sizes));
    return done;
}

static void phase_ring(struct session* s, size_t size) {
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

static void phase_grouped(struct session* s, int n) {
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
        if (now() > deadline) FAIL("grouped n=%d stalled", n);
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

static void phase_burst(struct session* s) {
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
static void phase_grouped_burst(struct session* s) {
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

/* Spins connect and accept as NCCL's proxy does until both comms exist or both failed. */
static int setup(struct session* s, void* listenComm, void* peerHandle, int expectRefused) {
    ncclResult_t connectRc = ncclSuccess, acceptRc = ncclSuccess;
    long nullCalls = 0;
    double longestCall = 0;
    double deadline = now() + PHASE_SECONDS;
    while ((s->sendComm == NULL && connectRc == ncclSuccess) || (s->recvComm == NULL && acceptRc == ncclSuccess)) {
        if (now() > deadline) FAIL("connect/accept did not finish in %d s", PHASE_SECONDS);
        double start = now();
        if (s->sendComm == NULL && connectRc == ncclSuccess) connectRc = plugin_connect(&s->p, peerHandle, &s->sendComm);
        if (s->recvComm == NULL && acceptRc == ncclSuccess) acceptRc = plugin_accept(&s->p, listenComm, &s->recvComm);
        if (now() - start > longestCall) longestCall = now() - start;
        nullCalls++;
        usleep(100);
    }
    fprintf(stderr, "rank %d: connect rc %d, accept rc %d after %ld calls, longest call %.3f s\n", rank, connectRc,
            acceptRc, nullCalls, longestCall);
    /* net_v8.h: connect and accept "must not block"; a handshake takes milliseconds, a blocking call far more. */
    if (longestCall > 0.5) FAIL("a connect/accept call took %.3f s: they must not block", longestCall);
    if (expectRefused) {
        if (connectRc != ncclSystemError || acceptRc != ncclSystemError || s->sendComm || s->recvComm)
            FAIL("expected connect and accept to be refused with ncclSystemError (2)");
        return 0;
    }
    if (connectRc != ncclSuccess || acceptRc != ncclSuccess) FAIL("setup failed");
    if (nullCalls < 2) FAIL("connect/accept completed on the first call: they must not block");
    return 1;
}

static void run_load(const char* path, int fd, int load, int abi, int expectRefused) {
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) FAIL("dlopen %s: %s", path, dlerror());
    struct session s = {0};
    if (!plugin_find(&s.p, lib, abi)) FAIL("no ncclNetPlugin_v%d in %s", abi ? abi : 12, path);
    if (strcmp(plugin_name(&s.p), "FabricAuth") != 0) FAIL("plug-in name '%s'", plugin_name(&s.p));
    if (s.p.version >= 11) {
        /* v11+: init once per communicator; a second communicator's context comes and goes first. */
        struct plugin other = s.p;
        CHECK(plugin_init(&other, logger, 0x1000u + (uint64_t)load));
        CHECK(plugin_finalize(&other));
    }
    CHECK(plugin_init(&s.p, logger, 0x2000u + (uint64_t)load));
    int ndev = 0;
    CHECK(plugin_devices(&s.p, &ndev));
    if (ndev < 1) FAIL("no devices");
    struct properties props;
    CHECK(plugin_properties(&s.p, &props));
    if (!(props.ptrSupport & NCCL_PTR_HOST) || props.maxRecvs < 8 || props.netDeviceType != NCCL_NET_DEVICE_HOST ||
        props.vdevs != 1 || props.maxP2pBytes < (4u << 20))
        FAIL("properties: ptrSupport %d maxRecvs %d type %d vdevs %d maxP2pBytes %zu", props.ptrSupport, props.maxRecvs,
             props.netDeviceType, props.vdevs, props.maxP2pBytes);
    fprintf(stderr, "rank %d load %d: ncclNetPlugin_v%d, device %s, %d Mb/s, maxRecvs %d\n", rank, load, s.p.version,
            props.name, props.speed, props.maxRecvs);

    char handle[NCCL_NET_HANDLE_MAXSIZE], peerHandle[NCCL_NET_HANDLE_MAXSIZE];
    void* listenComm = NULL;
    CHECK(plugin_listen(&s.p, handle, &listenComm));
    exchange(fd, handle, peerHandle, sizeof handle);
    int connected = setup(&s, listenComm, peerHandle, expectRefused);
    CHECK(PLUGIN_V8(&s.p)->closeListen(listenComm));
    if (connected) {
        const ncclNet_v8_t* net = PLUGIN_V8(&s.p);
        s.sendBuffer = aligned_alloc(4096, BUFFER_BYTES);
        s.recvBuffer = aligned_alloc(4096, BUFFER_BYTES);
        CHECK(net->regMr(s.sendComm, s.sendBuffer, BUFFER_BYTES, NCCL_PTR_HOST, &s.sendMr));
        CHECK(net->regMr(s.recvComm, s.recvBuffer, BUFFER_BYTES, NCCL_PTR_HOST, &s.recvMr));
        static const size_t sizes[] = {0, 1, 7, 64, 4095, 4096, 65536, 1u << 20, 4u << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) phase_ring(&s, sizes[i]);
        fprintf(stderr, "rank %d load %d: ring 0 B..4 MiB passed\n", rank, load);
        for (int n = 1; n <= 8; n++) phase_grouped(&s, n);
        fprintf(stderr, "rank %d load %d: grouped receives n=1..8 passed\n", rank, load);
        phase_burst(&s);
        fprintf(stderr, "rank %d load %d: %d outstanding requests passed\n", rank, load, NCCL_NET_MAX_REQUESTS);
        phase_grouped_burst(&s);
        fprintf(stderr, "rank %d load %d: %d outstanding grouped receives of %d buffers passed\n", rank, load,
                NCCL_NET_MAX_REQUESTS, props.maxRecvs);
        /* Both ranks finish testing before either closes: a close tears the QP down under the peer. */
        barrier(fd);
        CHECK(net->deregMr(s.sendComm, s.sendMr));
        CHECK(net->deregMr(s.recvComm, s.recvMr));
        CHECK(net->closeSend(s.sendComm));
        CHECK(net->closeRecv(s.recvComm));
        free(s.sendBuffer);
        free(s.recvBuffer);
        if (verifiedLines < 2) FAIL("expected the peer's verified identity in the log, saw %d lines", verifiedLines);
    }
    CHECK(plugin_finalize(&s.p));
    barrier(fd);
    if (dlclose(lib) != 0) FAIL("dlclose: %s", dlerror());
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [--abi 8..12] [--loads N] [--expect-refused]\n", argv[0]);
        return 2;
    }
    int loads = 2, abi = 0, expectRefused = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--loads") && i + 1 < argc) loads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--abi") && i + 1 < argc) abi = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--expect-refused")) expectRefused = 1;
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        perror("socketpair");
        return 1;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    rank = child == 0 ? 1 : 0;
    int fd = fds[rank];
    close(fds[1 - rank]);
    if (rank == 1) {
        const char* cert = getenv("HARNESS_RANK1_CERT");
        const char* key = getenv("HARNESS_RANK1_KEY");
        if (cert) setenv("FABRICAUTH_CERT", cert, 1);
        if (key) setenv("FABRICAUTH_KEY", key, 1);
    }
    if (abi != 0 && (abi < 8 || abi > 12)) {
        fprintf(stderr, "--abi takes 8 to 12\n");
        return 2;
    }
    for (int load = 0; load < loads; load++) run_load(argv[1], fd, load, abi, expectRefused);
    fprintf(stderr, "rank %d: PASS (%d loads%s)\n", rank, loads, expectRefused ? ", refused as expected" : "");
    if (rank == 1) return 0;
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "rank 0: rank 1 failed (status %d)\n", status);
        return 1;
    }
    printf("harness: PASS\n");
    return 0;
}
