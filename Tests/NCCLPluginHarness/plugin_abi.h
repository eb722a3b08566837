/*
 * One face for the harness over the plug-in's five ABI tables (v8..v12), so
 * every phase runs unchanged against each version: NCCL's own adapters in
 * src/plugin/net/net_v8.cc .. net_v12.cc do the same in the other direction.
 */
#ifndef HARNESS_PLUGIN_ABI_H
#define HARNESS_PLUGIN_ABI_H

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "nccl_net_fabricauth.h"

struct plugin {
    int version;
    const void* table;
    void* ctx; /* v11+: the communicator's context from init */
};

#define T(v) ((const ncclNet_v##v##_t*)p->table)

/* Finds ncclNetPlugin_v<version>, or the newest table (v12 down to v8, as NCCL probes) when version is 0. */
static inline int plugin_find(struct plugin* p, void* lib, int version) {
    for (int v = version ? version : 12; v >= (version ? version : 8); v--) {
        char symbol[32];
        snprintf(symbol, sizeof symbol, "ncclNetPlugin_v%d", v);
        p->table = dlsym(lib, symbol);
        if (p->table) {
            p->version = v;
            return 1;
        }
    }
    return 0;
}

static inline const char* plugin_name(struct plugin* p) { return *(const char* const*)p->table; /* name is first in every version */ }

static inline ncclResult_t plugin_init(struct plugin* p, ncclDebugLogger_t logger, uint64_t commId) {
    switch (p->version) {
    case 8: return T(8)->init(logger);
    case 9: return T(9)->init(logger);
    case 10: return T(10)->init(logger, NULL);
    case 11: {
        ncclNetCommConfig_v10_t config = {.trafficClass = NCCL_NET_TRAFFIC_CLASS_UNDEF};
        return T(11)->init(&p->ctx, commId, &config, logger, NULL);
    }
    default: {
        ncclNetCommConfig_v10_t config = {.trafficClass = NCCL_NET_TRAFFIC_CLASS_UNDEF};
        return T(12)->init(&p->ctx, commId, &config, logger, NULL);
    }
    }
}

static inline ncclResult_t plugin_finalize(struct plugin* p) {
    if (p->version == 11) return T(11)->finalize(p->ctx);
    if (p->version == 12) return T(12)->finalize(p->ctx);
    return ncclSuccess;
}

static inline ncclResult_t plugin_devices(struct plugin* p, int* n) { return T(8)->devices(n); /* same slot in every version */ }

/* The fields the harness checks, whatever the version's struct. */
struct properties {
    const char* name;
    int ptrSupport, speed, maxRecvs, netDeviceType, vdevs;
    size_t maxP2pBytes;
};

static inline ncclResult_t plugin_properties(struct plugin* p, struct properties* out) {
    ncclResult_t rc;
    memset(out, 0, sizeof *out);
#define COPY(x)                                                                                                        \
    do {                                                                                                               \
        out->name = (x).name;                                                                                          \
        out->ptrSupport = (x).ptrSupport;                                                                              \
        out->speed = (x).speed;                                                                                        \
        out->maxRecvs = (x).maxRecvs;                                                                                  \
        out->netDeviceType = (int)(x).netDeviceType;                                                                   \
    } while (0)
    if (p->version == 8) {
        ncclNetProperties_v8_t x;
        rc = T(8)->getProperties(0, &x);
        COPY(x);
        out->vdevs = 1;
        out->maxP2pBytes = (size_t)1 << 30;
    } else if (p->version <= 10) {
        ncclNetProperties_v9_t x;
        rc = p->version == 9 ? T(9)->getProperties(0, &x) : T(10)->getProperties(0, &x);
        COPY(x);
        out->vdevs = x.vProps.ndevs;
        out->maxP2pBytes = x.maxP2pBytes;
    } else if (p->version == 11) {
        ncclNetProperties_v11_t x;
        rc = T(11)->getProperties(0, &x);
        COPY(x);
        out->vdevs = x.vProps.ndevs;
        out->maxP2pBytes = x.maxP2pBytes;
    } else {
        ncclNetProperties_v12_t x;
        rc = T(12)->getProperties(0, &x);
        COPY(x);
        out->vdevs = x.vProps.ndevs;
        out->maxP2pBytes = x.maxP2pBytes;
        if (x.railId != NCCL_NET_ID_UNDEF || x.planeId != NCCL_NET_ID_UNDEF) return ncclInternalError;
    }
#undef COPY
    return rc;
}

static inline ncclResult_t plugin_listen(struct plugin* p, void* handle, void** listenComm) {
    if (p->version >= 11) return (p->version == 11 ? T(11)->listen : T(12)->listen)(p->ctx, 0, handle, listenComm);
    return T(8)->listen(0, handle, listenComm);
}

static inline ncclResult_t plugin_connect(struct plugin* p, void* handle, void** sendComm) {
    ncclNetDeviceHandle_v8_t* dev = NULL;
    switch (p->version) {
    case 8: return T(8)->connect(0, handle, sendComm, &dev);
    case 9: return T(9)->connect(0, handle, sendComm, &dev);
    case 10: {
        ncclNetCommConfig_v10_t config = {.trafficClass = NCCL_NET_TRAFFIC_CLASS_UNDEF};
        return T(10)->connect(0, &config, handle, sendComm, &dev);
    }
    case 11: return T(11)->connect(p->ctx, 0, handle, sendComm, &dev);
    default: return T(12)->connect(p->ctx, 0, handle, sendComm, &dev);
    }
}

/* accept, regMr, deregMr, iflush, test and the closes sit at the same offsets with the same types in v8..v12. */
static inline ncclResult_t plugin_accept(struct plugin* p, void* listenComm, void** recvComm) {
    ncclNetDeviceHandle_v8_t* dev = NULL;
    return T(8)->accept(listenComm, recvComm, &dev);
}

static inline ncclResult_t plugin_isend(struct plugin* p, void* comm, void* data, size_t size, int tag, void* mh, void** req) {
    switch (p->version) {
    case 8: return T(8)->isend(comm, data, (int)size, tag, mh, req);
    case 9: return T(9)->isend(comm, data, size, tag, mh, req);
    case 10: return T(10)->isend(comm, data, size, tag, mh, NULL, req);
    case 11: return T(11)->isend(comm, data, size, tag, mh, NULL, req);
    default: return T(12)->isend(comm, data, size, tag, mh, NULL, req);
    }
}

static inline ncclResult_t plugin_irecv(struct plugin* p, void* comm, int n, void** data, const size_t* sizes, int* tags,
                                 void** mhs, void** req) {
    size_t wide[8];
    int narrow[8];
    for (int i = 0; i < n && i < 8; i++) {
        wide[i] = sizes[i];
        narrow[i] = (int)sizes[i];
    }
    void* phandles[8] = {0};
    switch (p->version) {
    case 8: return T(8)->irecv(comm, n, data, narrow, tags, mhs, req);
    case 9: return T(9)->irecv(comm, n, data, wide, tags, mhs, req);
    case 10: return T(10)->irecv(comm, n, data, wide, tags, mhs, phandles, req);
    case 11: return T(11)->irecv(comm, n, data, wide, tags, mhs, phandles, req);
    default: return T(12)->irecv(comm, n, data, wide, tags, mhs, phandles, req);
    }
}

#undef T
#define PLUGIN_V8(p) ((const ncclNet_v8_t*)(p)->table)

#endif
