/*
 * Shared by the harness's files: harness.c (loads, setup, modes, main),
 * phases.c (the traffic phases over one connected pair of comms), bench.c
 * (--bench, --bench-connect) and oob.c (the TCP link between ranks on two hosts).
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "plugin_abi.h"

#define BUFFER_BYTES (8u << 20)
#define PHASE_SECONDS 120

extern int rank;

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

/* One connection pair of a load: this rank's send comm to the peer and receive comm from it, with registered buffers. */
struct session {
    struct plugin p;
    void* sendComm;
    void* recvComm;
    uint8_t* sendBuffer;
    uint8_t* recvBuffer;
    void* sendMr;
    void* recvMr;
};

double now(void);
/* The socketpair or TCP connection to the other rank (harness.c): swap n bytes; wait for each other. */
void exchange(int fd, const void* mine, void* theirs, size_t n);
void barrier(int fd);

/* --rank mode (oob.c): rank 0 accepts rank 1 on PORT, rank 1 connects to HOST:PORT, each waiting up to 120 s;
   then both swap settings (count values named by names) and fail on any difference. */
int oob_listen(int port);
int oob_connect(const char* target);
void oob_agree(int fd, const int* settings, const char* const* names, int count);

/* Phases (phases.c): both directions at once, every byte and reported size checked. */
void phase_ring(struct session* s, size_t size);
void phase_grouped(struct session* s, int n);
void phase_burst(struct session* s);
void phase_grouped_burst(struct session* s);

/* Heap allocations so far (allocations.c): on the threads that carry the plug-in's data path (this rank's main
   thread, NCCL's, and the MAC workers), and on every other thread. */
unsigned long long harness_allocations(void);
unsigned long long harness_other_allocations(void);

/* --bench (bench.c): sendrecv through the plug-in against plain verbs, 4 KiB .. maxBytes (at most 4 MiB). */
void run_bench(struct session* s, int fd, int iterations, size_t maxBytes);
/* --bench-connect (bench.c): mean seconds of `count` plain setups of two RC QPs per rank, one per direction. */
double bench_plain_setups(int fd, int count);

#endif
