/*
 * Counts the heap allocations of the threads that carry the plug-in's data
 * path, so --bench can show that it allocates nothing per message (issue 14:
 * "with no allocation per message"): NCCL's thread (here the rank's main
 * thread, which calls isend, irecv and test) and the plug-in's MAC workers
 * (threads it names fa-mac-N). Other threads (the plug-in's reload watcher,
 * which checks the identity files every few seconds) are counted apart.
 *
 * The harness is linked with -rdynamic, so these definitions are in its
 * dynamic symbol table and the dynamic linker binds the plug-in's (and the
 * Swift runtime's inside it) malloc calls to them; each counts and forwards
 * to glibc's own entry points (__libc_malloc and friends, exported by
 * glibc 2.2.5 and later). free is not counted.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

static unsigned long long dataPathAllocations, otherAllocations;
/* 1 once this thread is known to carry the data path; a worker names itself after it starts, so others ask again. */
static __thread int carriesDataPath;

static void count(void) {
    if (!carriesDataPath) {
        char name[16] = {0};
        if (gettid() == getpid() || (prctl(PR_GET_NAME, name) == 0 && strncmp(name, "fa-mac-", 7) == 0))
            carriesDataPath = 1;
    }
    __atomic_fetch_add(carriesDataPath ? &dataPathAllocations : &otherAllocations, 1, __ATOMIC_RELAXED);
}

unsigned long long harness_allocations(void) { return __atomic_load_n(&dataPathAllocations, __ATOMIC_RELAXED); }
unsigned long long harness_other_allocations(void) { return __atomic_load_n(&otherAllocations, __ATOMIC_RELAXED); }

void* malloc(size_t n) {
    count();
    return __libc_malloc(n);
}

void* calloc(size_t items, size_t n) {
    count();
    return __libc_calloc(items, n);
}

void* realloc(void* p, size_t n) {
    count();
    return __libc_realloc(p, n);
}

void* aligned_alloc(size_t alignment, size_t n) {
    count();
    return __libc_memalign(alignment, n);
}

void* memalign(size_t alignment, size_t n) {
    count();
    return __libc_memalign(alignment, n);
}

int posix_memalign(void** out, size_t alignment, size_t n) {
    count();
    void* p = __libc_memalign(alignment, n);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
