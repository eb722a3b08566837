/*
 * Drives libnccl-net-fabricauth.so the way NCCL's proxy thread does
 * (NVIDIA/nccl v2.30.7 src/transport/net.cc, src/plugin/net/net_v8.cc), without
 * NCCL or a GPU: two ranks as two processes (fork), joined by a socketpair
 * that stands in for NCCL's bootstrap network; or, with --rank, one rank per
 * process and host, joined by a TCP connection (oob.c).
 *
 *   harness PLUGIN.so [--abi 8..12] [--loads N] [--connections N] [--expect-refused]
 *   harness PLUGIN.so --bench [--bench-iterations N] [--loads 1]
 *   harness PLUGIN.so --bench-connect --connections N (2..16) [--loads N]
 *   harness PLUGIN.so --expect-init-failure [--loads N]
 *   ... [--max-bytes N]   largest ring and bench message (4096..4 MiB, default 4 MiB)
 *   ... --rank 0 --oob-listen PORT | --rank 1 --oob-connect HOST:PORT
 *
 * Each load: dlopen, find ncclNetPlugin_v<abi> (default: the newest, probing
 * v12 down to v8 as NCCL does), init (v11+: per communicator, twice), devices,
 * getProperties, listen (once per connection), swap handles, spin
 * connect/accept through NULL comms, closeListen, regMr, then with one
 * connection three phases in both directions at once (phases.c):
 *   ring     8 slots of isend/irecv with tags, sizes 0 B .. 4 MiB, some
 *            receives larger than the message
 *   grouped  one irecv of n = 1..8 buffers against n isends
 *   burst    32 outstanding requests per comm (NCCL_NET_MAX_REQUESTS), and
 *            32 outstanding grouped receives of 8 buffers (getProperties'
 *            maxRecvs); a 33rd irecv returns a NULL request and ncclSuccess
 * busy-polling test and checking every byte and every reported size; then
 * deregMr, closeSend, closeRecv, finalize, dlclose. The next load dlopens again.
 * With --connections N > 1 (NCCL opens channels x peers connections between
 * two processes) every connection carries a ring of 4 KiB messages instead.
 * With --bench the connection runs bench.c's sendrecv benchmark instead,
 * through the plug-in and over plain verbs (--bench-iterations, default 20).
 * With --bench-connect the N connections are timed one at a time (the first
 * runs the full handshakes, the rest resume) against N plain setups of two
 * RC QPs per rank (bench.c), and rank 0 prints "bench-connect: ..."; no
 * traffic runs.
 *
 * The logger shows lines as NCCL's does for NCCL_DEBUG (WARN, INFO (the
 * default here) or TRACE): a line above that level is dropped. A connected
 * run at INFO checks that the peer's verified identity was shown exactly
 * once per process, whatever the number of connections and loads (WARN
 * shows none, TRACE one per comm).
 *
 * Rank 0 uses FABRICAUTH_CERT/FABRICAUTH_KEY; rank 1 HARNESS_RANK1_CERT and
 * HARNESS_RANK1_KEY when set. With --rank each process is the rank it names,
 * with its own environment's FABRICAUTH_* identity (HARNESS_RANK1_* is not
 * read), and both must be given the same options (oob.c checks); each prints
 * "harness: PASS" once the other has reached its end too. With --expect-refused, every connect and accept
 * must fail with ncclSystemError (a rank the peer refuses) and return no comm,
 * so NCCL has nothing to register or receive into. With --expect-init-failure
 * every load's init must fail with ncclInternalError and a WARN line (no
 * device needed: a missing setting fails before the device is opened), and
 * the library is dlclosed and dlopened again each time.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int rank = -1;
/* Lines shown at the NCCL_DEBUG level: the peer's verified identity, and failed inits. */
static int verifiedLines = 0;
static int initFailureLines = 0;
static int shownLevel = NCCL_LOG_INFO;

static void logger(ncclDebugLogLevel level, unsigned long flags, const char* file, int line, const char* fmt, ...) {
    (void)flags;
    (void)file;
    (void)line;
    /* NCCL's ncclDebugLog returns early for a level above NCCL_DEBUG's. */
    if ((int)level > shownLevel) return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (strncmp(text, "NET/FabricAuth : peer ", 22) == 0 && strstr(text, " verified; ")) verifiedLines++;
    if (level == NCCL_LOG_WARN && strstr(text, "init failed")) initFailureLines++;
    fprintf(stderr, "rank %d [%s] %s\n", rank,
            level == NCCL_LOG_WARN ? "WARN" : level == NCCL_LOG_TRACE ? "TRACE" : "INFO", text);
}

static void set_shown_level(void) {
    const char* level = getenv("NCCL_DEBUG");
    if (!level) return;
    if (!strcasecmp(level, "VERSION")) shownLevel = NCCL_LOG_VERSION;
    else if (!strcasecmp(level, "WARN")) shownLevel = NCCL_LOG_WARN;
    else if (!strcasecmp(level, "INFO")) shownLevel = NCCL_LOG_INFO;
    else if (!strcasecmp(level, "TRACE")) shownLevel = NCCL_LOG_TRACE;
}

double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void exchange(int fd, const void* mine, void* theirs, size_t n) {
    /* A TCP send may be partial; MSG_NOSIGNAL: a peer that died fails here with its reason, not with SIGPIPE. */
    for (size_t sent = 0; sent < n;) {
        ssize_t w = send(fd, (const char*)mine + sent, n - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) FAIL("write to peer rank: %s", strerror(errno));
        sent += (size_t)w;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char*)theirs + got, n - got);
        if (r <= 0) FAIL("peer rank went away");
        got += (size_t)r;
    }
}

void barrier(int fd) {
    char a = 'b', b;
    exchange(fd, &a, &b, 1);
}

/* Spins connect and accept as NCCL's proxy does until both comms exist or both failed. */
static int setup(struct session* s, void* listenComm, void* peerHandle, int expectRefused, int pause) {
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
        if (pause) usleep(100);
    }
    fprintf(stderr, "rank %d: connect rc %d, accept rc %d after %ld calls, longest call %.3f s\n", rank, connectRc,
            acceptRc, nullCalls, longestCall);
    /* net_v8.h: connect and accept "must not block". Each call runs one step of a setup, the longest being a
       handshake message with its public-key operations: well under a millisecond on a host, up to about half a
       second under QEMU/TCG (public-key crypto runs about 150 times slower there), so the bound is
       HARNESS_MAX_CALL_SECONDS (default 0.5; the device tests in the emulated test bed set 5). A blocking
       connect would wait for the peer's accept, which the peer only runs between its own connects. */
    const char* bound = getenv("HARNESS_MAX_CALL_SECONDS");
    double maxCall = bound ? atof(bound) : 0.5;
    if (longestCall > maxCall) FAIL("a connect/accept call took %.3f s (bound %.3f s): they must not block", longestCall, maxCall);
    if (expectRefused) {
        if (connectRc != ncclSystemError || acceptRc != ncclSystemError || s->sendComm || s->recvComm)
            FAIL("expected connect and accept to be refused with ncclSystemError (2)");
        return 0;
    }
    if (connectRc != ncclSuccess || acceptRc != ncclSuccess) FAIL("setup failed");
    if (nullCalls < 2) FAIL("connect/accept completed on the first call: they must not block");
    return 1;
}

#define MAX_CONNECTIONS 16

/* The fields up to maxBytes must match between the ranks (oob_agree); oobRank is -1 in fork mode. */
struct options {
    int loads, abi, connections, expectRefused, expectInitFailure, bench, benchIterations, maxBytes, benchConnect;
    int oobRank, oobListenPort;
    const char* oobConnect;
};

/* Traffic over every connected pair: the full phases over one, a ring of 4 KiB messages over each of several. */
static void run_traffic(struct session* s, int connections, int load, int maxRecvs, const struct options* o, int fd) {
    const ncclNet_v8_t* net = PLUGIN_V8(&s[0].p);
    for (int c = 0; c < connections; c++) {
        s[c].sendBuffer = aligned_alloc(4096, BUFFER_BYTES);
        s[c].recvBuffer = aligned_alloc(4096, BUFFER_BYTES);
        CHECK(net->regMr(s[c].sendComm, s[c].sendBuffer, BUFFER_BYTES, NCCL_PTR_HOST, &s[c].sendMr));
        CHECK(net->regMr(s[c].recvComm, s[c].recvBuffer, BUFFER_BYTES, NCCL_PTR_HOST, &s[c].recvMr));
    }
    if (o->bench) {
        run_bench(s, fd, o->benchIterations, (size_t)o->maxBytes);
        return;
    }
    if (connections > 1) {
        for (int c = 0; c < connections; c++) phase_ring(&s[c], 4096);
        fprintf(stderr, "rank %d load %d: ring of 4 KiB over %d connections passed\n", rank, load, connections);
        return;
    }
    static const size_t sizes[] = {0, 1, 7, 64, 4095, 4096, 65536, 1u << 20, 4u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i] <= (size_t)o->maxBytes) phase_ring(s, sizes[i]);
    if (o->maxBytes == (4 << 20)) fprintf(stderr, "rank %d load %d: ring 0 B..4 MiB passed\n", rank, load);
    else fprintf(stderr, "rank %d load %d: ring 0 B..%d B passed\n", rank, load, o->maxBytes);
    for (int n = 1; n <= 8; n++) phase_grouped(s, n);
    fprintf(stderr, "rank %d load %d: grouped receives n=1..8 passed\n", rank, load);
    phase_burst(s);
    fprintf(stderr, "rank %d load %d: %d outstanding requests passed\n", rank, load, NCCL_NET_MAX_REQUESTS);
    phase_grouped_burst(s);
    fprintf(stderr, "rank %d load %d: %d outstanding grouped receives of %d buffers passed\n", rank, load,
            NCCL_NET_MAX_REQUESTS, maxRecvs);
}

static void close_connections(struct session* s, int connections) {
    const ncclNet_v8_t* net = PLUGIN_V8(&s[0].p);
    for (int c = 0; c < connections; c++) {
        CHECK(net->deregMr(s[c].sendComm, s[c].sendMr));
        CHECK(net->deregMr(s[c].recvComm, s[c].recvMr));
        CHECK(net->closeSend(s[c].sendComm));
        CHECK(net->closeRecv(s[c].recvComm));
        free(s[c].sendBuffer);
        free(s[c].recvBuffer);
    }
}

/* Rank 0's line for --bench-connect: the first connection (both directions' full handshakes), the mean of the
   later ones (resumed), the mean plain setup, and their ratio. */
static void report_connect_bench(const double* seconds, int connections, double plain, int load) {
    double later = 0;
    for (int c = 1; c < connections; c++) later += seconds[c];
    later /= connections - 1;
    if (rank != 0) return;
    fprintf(stderr, "bench-connect: load %d: first %.2f ms; %d later %.2f ms each; plain %.2f ms each; later/plain %.2f\n",
            load, seconds[0] * 1e3, connections - 1, later * 1e3, plain * 1e3, later / plain);
}

static void run_load(const char* path, int fd, int load, const struct options* o) {
    void* lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) FAIL("dlopen %s: %s", path, dlerror());
    static struct session s[MAX_CONNECTIONS];
    memset(s, 0, sizeof s);
    if (!plugin_find(&s[0].p, lib, o->abi)) FAIL("no ncclNetPlugin_v%d in %s", o->abi ? o->abi : 12, path);
    if (strcmp(plugin_name(&s[0].p), "FabricAuth") != 0) FAIL("plug-in name '%s'", plugin_name(&s[0].p));
    if (o->expectInitFailure) {
        int before = initFailureLines;
        ncclResult_t rc = plugin_init(&s[0].p, logger, 0x2000u + (uint64_t)load);
        if (rc != ncclInternalError) FAIL("load %d: init returned %d, expected ncclInternalError (3)", load, (int)rc);
        if (initFailureLines != before + 1) FAIL("load %d: init failed without its WARN line", load);
        fprintf(stderr, "rank %d load %d: ncclNetPlugin_v%d, init refused as expected\n", rank, load, s[0].p.version);
        if (dlclose(lib) != 0) FAIL("dlclose: %s", dlerror());
        return;
    }
    if (s[0].p.version >= 11) {
        /* v11+: init once per communicator; a second communicator's context comes and goes first. */
        struct plugin other = s[0].p;
        CHECK(plugin_init(&other, logger, 0x1000u + (uint64_t)load));
        CHECK(plugin_finalize(&other));
    }
    CHECK(plugin_init(&s[0].p, logger, 0x2000u + (uint64_t)load));
    int ndev = 0;
    CHECK(plugin_devices(&s[0].p, &ndev));
    if (ndev < 1) FAIL("no devices");
    struct properties props;
    CHECK(plugin_properties(&s[0].p, &props));
    if (!(props.ptrSupport & NCCL_PTR_HOST) || props.maxRecvs < 8 || props.netDeviceType != NCCL_NET_DEVICE_HOST ||
        props.vdevs != 1 || props.maxP2pBytes < (4u << 20))
        FAIL("properties: ptrSupport %d maxRecvs %d type %d vdevs %d maxP2pBytes %zu", props.ptrSupport, props.maxRecvs,
             props.netDeviceType, props.vdevs, props.maxP2pBytes);
    fprintf(stderr, "rank %d load %d: ncclNetPlugin_v%d, device %s, %d Mb/s, maxRecvs %d\n", rank, load, s[0].p.version,
            props.name, props.speed, props.maxRecvs);

    /* One listen per connection, all handles swapped at once, as NCCL's setup exchanges them through its bootstrap. */
    static char handles[MAX_CONNECTIONS][NCCL_NET_HANDLE_MAXSIZE], peerHandles[MAX_CONNECTIONS][NCCL_NET_HANDLE_MAXSIZE];
    void* listenComms[MAX_CONNECTIONS] = {0};
    for (int c = 0; c < o->connections; c++) {
        s[c].p = s[0].p;
        CHECK(plugin_listen(&s[c].p, handles[c], &listenComms[c]));
    }
    exchange(fd, handles, peerHandles, (size_t)o->connections * NCCL_NET_HANDLE_MAXSIZE);
    int connected = 1;
    double seconds[MAX_CONNECTIONS];
    for (int c = 0; c < o->connections; c++) {
        /* --bench-connect: one connection at a time, both ranks starting together, no pause between calls. */
        if (o->benchConnect) barrier(fd);
        double start = now();
        connected = setup(&s[c], listenComms[c], peerHandles[c], o->expectRefused, !o->benchConnect);
        if (o->benchConnect) barrier(fd);
        seconds[c] = now() - start;
        CHECK(PLUGIN_V8(&s[c].p)->closeListen(listenComms[c]));
    }
    if (connected && o->benchConnect) {
        report_connect_bench(seconds, o->connections, bench_plain_setups(fd, o->connections), load);
        barrier(fd);
        for (int c = 0; c < o->connections; c++) {
            CHECK(PLUGIN_V8(&s[c].p)->closeSend(s[c].sendComm));
            CHECK(PLUGIN_V8(&s[c].p)->closeRecv(s[c].recvComm));
        }
    } else if (connected) {
        run_traffic(s, o->connections, load, props.maxRecvs, o, fd);
        /* Both ranks finish testing before either closes: a close tears the QP down under the peer. */
        barrier(fd);
        close_connections(s, o->connections);
        /* Once per process at INFO: neither the connections of this load nor the loads before add a line
           (NCCL_DEBUG=TRACE shows one per connection, which the caller counts). */
        if (shownLevel == NCCL_LOG_INFO && verifiedLines != 1)
            FAIL("expected the peer's verified identity once in the log, saw it %d times", verifiedLines);
    }
    CHECK(plugin_finalize(&s[0].p));
    barrier(fd);
    if (dlclose(lib) != 0) FAIL("dlclose: %s", dlerror());
}

/* Fork mode: rank 1 is a child with HARNESS_RANK1_* as its identity; returns the socketpair end of this rank. */
static int fork_ranks(pid_t* child) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) FAIL("socketpair: %s", strerror(errno));
    fflush(NULL);
    *child = fork();
    if (*child < 0) FAIL("fork: %s", strerror(errno));
    rank = *child == 0 ? 1 : 0;
    close(fds[1 - rank]);
    if (rank == 1) {
        const char* cert = getenv("HARNESS_RANK1_CERT");
        const char* key = getenv("HARNESS_RANK1_KEY");
        if (cert) setenv("FABRICAUTH_CERT", cert, 1);
        if (key) setenv("FABRICAUTH_KEY", key, 1);
    }
    return fds[rank];
}

/* --rank mode: this process is one rank; the other is reached over TCP and must run with the same options. */
static int join_peer(const struct options* o) {
    rank = o->oobRank;
    int fd = rank == 0 ? oob_listen(o->oobListenPort) : oob_connect(o->oobConnect);
    static const char* const names[] = {"--loads", "--abi", "--connections", "--expect-refused",
                                        "--expect-init-failure", "--bench", "--bench-iterations", "--max-bytes",
                                        "--bench-connect"};
    const int settings[] = {o->loads, o->abi, o->connections, o->expectRefused, o->expectInitFailure, o->bench,
                            o->benchIterations, o->maxBytes, o->benchConnect};
    oob_agree(fd, settings, names, (int)(sizeof settings / sizeof settings[0]));
    return fd;
}

static int usage_error(const char* message) {
    fprintf(stderr, "%s\n", message);
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so [--abi 8..12] [--loads N] [--connections N] [--expect-refused] "
                        "[--expect-init-failure] [--bench [--bench-iterations N]] [--bench-connect] [--max-bytes N] "
                        "[--rank 0 --oob-listen PORT | --rank 1 --oob-connect HOST:PORT]\n", argv[0]);
        return 2;
    }
    struct options o = {.loads = 2, .abi = 0, .connections = 1, .benchIterations = 20, .maxBytes = 4 << 20,
                        .oobRank = -1, .oobListenPort = 0};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--loads") && i + 1 < argc) o.loads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--abi") && i + 1 < argc) o.abi = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--connections") && i + 1 < argc) o.connections = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--expect-refused")) o.expectRefused = 1;
        else if (!strcmp(argv[i], "--expect-init-failure")) o.expectInitFailure = 1;
        else if (!strcmp(argv[i], "--bench")) o.bench = 1;
        else if (!strcmp(argv[i], "--bench-connect")) o.benchConnect = 1;
        else if (!strcmp(argv[i], "--bench-iterations") && i + 1 < argc) o.benchIterations = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-bytes") && i + 1 < argc) o.maxBytes = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rank") && i + 1 < argc) o.oobRank = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--oob-listen") && i + 1 < argc) o.oobListenPort = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--oob-connect") && i + 1 < argc) o.oobConnect = argv[++i];
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (o.abi != 0 && (o.abi < 8 || o.abi > 12)) return usage_error("--abi takes 8 to 12");
    if (o.bench && (o.connections != 1 || o.benchIterations < 1))
        return usage_error("--bench runs over one connection, with --bench-iterations >= 1");
    if (o.benchConnect && (o.connections < 2 || o.bench || o.expectRefused || o.expectInitFailure))
        return usage_error("--bench-connect times --connections N >= 2 setups, without --bench or --expect-*");
    if (o.connections < 1 || o.connections > MAX_CONNECTIONS) {
        fprintf(stderr, "--connections takes 1 to %d\n", MAX_CONNECTIONS);
        return 2;
    }
    /* The ring's slots and the bench's plain buffers hold 4 MiB; the bench starts at 4 KiB. */
    if (o.maxBytes < 4096 || o.maxBytes > (4 << 20)) return usage_error("--max-bytes takes 4096 to 4194304");
    int oob = o.oobRank != -1 || o.oobListenPort || o.oobConnect;
    if (oob && !(o.oobRank == 0 && o.oobListenPort > 0 && o.oobListenPort < 65536 && !o.oobConnect) &&
        !(o.oobRank == 1 && o.oobConnect && !o.oobListenPort))
        return usage_error("out-of-band mode takes --rank 0 --oob-listen PORT (1..65535) or --rank 1 --oob-connect HOST:PORT");
    set_shown_level();
    pid_t child = -1;
    int fd = oob ? join_peer(&o) : fork_ranks(&child);
    for (int load = 0; load < o.loads; load++) run_load(argv[1], fd, load, &o);
    fprintf(stderr, "rank %d: PASS (%d loads%s)\n", rank, o.loads,
            o.expectRefused ? ", refused as expected" : o.expectInitFailure ? ", init refused as expected" : "");
    if (oob) {
        /* Past this barrier the other rank has passed too (it exits non-zero at the first failure, which ends the
           connection and fails this rank's read). */
        barrier(fd);
        printf("harness: PASS (rank %d, out-of-band)\n", rank);
        return 0;
    }
    if (rank == 1) return 0;
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "rank 0: rank 1 failed (status %d)\n", status);
        return 1;
    }
    printf("harness: PASS\n");
    return 0;
}
