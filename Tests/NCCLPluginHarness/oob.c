/*
 * The out-of-band link between two harness processes, one rank each, on two
 * hosts (`--rank 0 --oob-listen PORT`, `--rank 1 --oob-connect HOST:PORT`):
 * a plain TCP connection that stands in for NCCL's bootstrap network, as the
 * socketpair does in fork mode. Over it the ranks swap listen handles and
 * wait at barriers (exchange, barrier in harness.c), nothing else; like
 * NCCL's bootstrap it is unauthenticated, which is why the plug-in trusts
 * nothing in a handle.
 *
 * The two processes start independently (in two VMs that boot side by side),
 * so rank 1 retries its connect and rank 0 waits for it, each until
 * OOB_WAIT_SECONDS. Then both swap their settings and stop at once on any
 * difference: two ranks run with different --loads or --abi would otherwise
 * hang at a barrier or fail far from the cause.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define OOB_WAIT_SECONDS 120

/* Barriers are one byte each way; without NODELAY each would wait for Nagle's timer (up to 40 ms with delayed ACKs). */
static void set_nodelay(int fd) {
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) FAIL("oob: TCP_NODELAY: %s", strerror(errno));
}

int oob_listen(int port) {
    /* Dual stack, so IPv4 and IPv6 peers both reach it; IPv4 alone on a kernel without IPv6. */
    int listener = socket(AF_INET6, SOCK_STREAM, 0), on = 1, off = 0, bound;
    if (listener >= 0) {
        setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any};
        /* A rerun right after a run whose connection is in TIME_WAIT must still bind. */
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        bound = bind(listener, (struct sockaddr*)&any6, sizeof any6);
    } else {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        if (listener < 0) FAIL("oob: socket: %s", strerror(errno));
        struct sockaddr_in any4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = INADDR_ANY};
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        bound = bind(listener, (struct sockaddr*)&any4, sizeof any4);
    }
    if (bound != 0) FAIL("oob: bind port %d: %s", port, strerror(errno));
    if (listen(listener, 1) != 0) FAIL("oob: listen: %s", strerror(errno));
    fprintf(stderr, "rank 0: waiting for rank 1 on TCP port %d (up to %d s)\n", port, OOB_WAIT_SECONDS);
    struct pollfd waiting = {.fd = listener, .events = POLLIN};
    int ready = poll(&waiting, 1, OOB_WAIT_SECONDS * 1000);
    if (ready < 0) FAIL("oob: poll: %s", strerror(errno));
    if (ready == 0) FAIL("oob: rank 1 did not connect to port %d within %d s", port, OOB_WAIT_SECONDS);
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) FAIL("oob: accept: %s", strerror(errno));
    close(listener);
    set_nodelay(fd);
    return fd;
}

int oob_connect(const char* target) {
    char host[256];
    const char* colon = strrchr(target, ':');
    if (!colon || colon == target || (size_t)(colon - target) >= sizeof host || !colon[1])
        FAIL("oob: --oob-connect takes HOST:PORT, got '%s'", target);
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = 0;
    /* [v6]:port, as URLs write an IPv6 literal with a port. */
    char* name = host;
    if (name[0] == '[' && name[strlen(name) - 1] == ']') {
        name[strlen(name) - 1] = 0;
        name++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found;
    int rc = getaddrinfo(name, colon + 1, &hints, &found);
    if (rc != 0) FAIL("oob: %s: %s", target, gai_strerror(rc));
    double deadline = now() + OOB_WAIT_SECONDS;
    int attempts = 0, lastError = 0;
    fprintf(stderr, "rank 1: connecting to rank 0 at %s (retrying for up to %d s)\n", target, OOB_WAIT_SECONDS);
    for (;;) {
        for (struct addrinfo* a = found; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
            if (fd < 0) FAIL("oob: socket: %s", strerror(errno));
            /* Bounds a connect to a host that drops SYNs: the deadline is checked between attempts. */
            struct timeval bound = {.tv_sec = 5};
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
            attempts++;
            if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                freeaddrinfo(found);
                set_nodelay(fd);
                fprintf(stderr, "rank 1: connected to rank 0 at %s after %d attempt(s)\n", target, attempts);
                return fd;
            }
            lastError = errno;
            close(fd);
        }
        /* Refused or unreachable: rank 0 is not listening yet (its host may still be booting). */
        if (now() > deadline)
            FAIL("oob: could not connect to rank 0 at %s within %d s (%d attempts, last: %s)", target, OOB_WAIT_SECONDS,
                 attempts, strerror(lastError));
        usleep(250 * 1000);
    }
}

void oob_agree(int fd, const int* settings, const char* const* names, int count) {
    enum { MAX_SETTINGS = 16 };
    if (count > MAX_SETTINGS) FAIL("oob: %d settings, room for %d", count, MAX_SETTINGS);
    /* A magic word first: something else answering on the port fails here, not at the first handle. */
    int32_t mine[MAX_SETTINGS + 2] = {0x46414831 /* "FAH1" */, rank}, theirs[MAX_SETTINGS + 2];
    for (int i = 0; i < count; i++) mine[i + 2] = settings[i];
    exchange(fd, mine, theirs, sizeof mine);
    if (theirs[0] != mine[0]) FAIL("oob: the peer is not a plug-in harness of this version (magic %#x)", theirs[0]);
    if (theirs[1] != 1 - rank) FAIL("oob: the peer runs as rank %d, this process as rank %d", theirs[1], rank);
    for (int i = 0; i < count; i++)
        if (theirs[i + 2] != mine[i + 2])
            FAIL("oob: rank %d runs with %s %d, this rank with %d: both ranks need the same options", theirs[1], names[i],
                 theirs[i + 2], mine[i + 2]);
}
