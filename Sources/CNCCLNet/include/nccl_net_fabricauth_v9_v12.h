/*
 * NCCL network plug-in ABI v9 to v12, declared by FabricAuth from NVIDIA/nccl
 * v2.30.7 (commit 5067397c) src/include/plugin/net/net_v9.h .. net_v12.h.
 * Included by nccl_net_fabricauth.h after the v8 types it builds on.
 *
 * What changed, version by version:
 *   v9   sizes become size_t in isend/irecv; properties gain forceFlush,
 *        vProps (virtual NICs), maxP2pBytes, maxCollBytes; makeVDevice
 *   v10  init takes a profiler callback; connect takes a config (traffic
 *        class); isend/irecv take profiler handles
 *   v11  init(ctx, commId, config, logger, profiler) once per communicator;
 *        listen/connect take that ctx; finalize(ctx); setNetAttr;
 *        properties gain maxMultiRequestSize
 *   v12  properties: vProps of 8 devices, maxCollBytes dropped, railId and planeId
 */
#ifndef FABRICAUTH_NCCL_NET_V9_V12_H
#define FABRICAUTH_NCCL_NET_V9_V12_H

#ifdef __cplusplus
extern "C" {
#endif

typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v9_t;
typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v10_t;
typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v11_t;
typedef ncclNetDeviceHandle_v8_t ncclNetDeviceHandle_v12_t;

/* net_v11.h: v9, v10 and v11 virtual devices hold up to 4 NICs; net_v12.h: 8. */
#define NCCL_NET_MAX_DEVS_PER_NIC_V11 4
#define NCCL_NET_MAX_DEVS_PER_NIC_V12 8
#define NCCL_NET_TRAFFIC_CLASS_UNDEF -1
#define NCCL_NET_ID_UNDEF -1

typedef struct {
    int ndevs;
    int devs[NCCL_NET_MAX_DEVS_PER_NIC_V11];
} ncclNetVDeviceProps_v11_t; /* also v9's and v10's */

typedef struct {
    int ndevs;
    int devs[NCCL_NET_MAX_DEVS_PER_NIC_V12];
} ncclNetVDeviceProps_v12_t;

typedef struct {
    int trafficClass; /* NCCL_NET_TRAFFIC_CLASS_UNDEF: the plug-in's default */
} ncclNetCommConfig_v10_t;  /* v11's and v12's have the same layout */

typedef struct {
    char* name;
    char* pciPath;
    uint64_t guid;
    int ptrSupport;
    int regIsGlobal;
    int forceFlush;
    int speed;
    int port;
    float latency;
    int maxComms;
    int maxRecvs;
    ncclNetDeviceType netDeviceType;
    int netDeviceVersion;
    ncclNetVDeviceProps_v11_t vProps;
    size_t maxP2pBytes;
    size_t maxCollBytes;
} ncclNetProperties_v9_t; /* v10's is identical */

typedef struct {
    char* name;
    char* pciPath;
    uint64_t guid;
    int ptrSupport;
    int regIsGlobal;
    int forceFlush;
    int speed;
    int port;
    float latency;
    int maxComms;
    int maxRecvs;
    ncclNetDeviceType netDeviceType;
    int netDeviceVersion;
    ncclNetVDeviceProps_v11_t vProps;
    size_t maxP2pBytes;
    size_t maxCollBytes;
    int maxMultiRequestSize;
} ncclNetProperties_v11_t;

typedef struct {
    char* name;
    char* pciPath;
    uint64_t guid;
    int ptrSupport;
    int regIsGlobal;
    int forceFlush;
    int speed;
    int port;
    float latency;
    int maxComms;
    int maxRecvs;
    ncclNetDeviceType netDeviceType;
    int netDeviceVersion;
    ncclNetVDeviceProps_v12_t vProps;
    size_t maxP2pBytes;
    int maxMultiRequestSize;
    int16_t railId;
    int16_t planeId;
} ncclNetProperties_v12_t;

typedef struct {
    int32_t maxConcurrentPeers;
    int32_t minConcurrentPeers;
    int32_t maxFlowsPerPeer;
    int32_t minFlowsPerPeer;
} ncclNetCommAttr_v11_t;

typedef struct {
    ncclNetCommAttr_v11_t sendCommAttr;
    ncclNetCommAttr_v11_t recvCommAttr;
    uint32_t op;
    uint32_t algo;
    uint32_t proto;
} ncclNetAttr_v11_t; /* v12's is identical */

typedef struct {
    const char* name;
    ncclResult_t (*init)(ncclDebugLogger_t logFunction);
    ncclResult_t (*devices)(int* ndev);
    ncclResult_t (*getProperties)(int dev, ncclNetProperties_v9_t* props);
    ncclResult_t (*listen)(int dev, void* handle, void** listenComm);
    ncclResult_t (*connect)(int dev, void* handle, void** sendComm, ncclNetDeviceHandle_v9_t** sendDevComm);
    ncclResult_t (*accept)(void* listenComm, void** recvComm, ncclNetDeviceHandle_v9_t** recvDevComm);
    ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
    ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset, int fd, void** mhandle);
    ncclResult_t (*deregMr)(void* comm, void* mhandle);
    ncclResult_t (*isend)(void* sendComm, void* data, size_t size, int tag, void* mhandle, void** request);
    ncclResult_t (*irecv)(void* recvComm, int n, void** data, size_t* sizes, int* tags, void** mhandles, void** request);
    ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles, void** request);
    ncclResult_t (*test)(void* request, int* done, int* sizes);
    ncclResult_t (*closeSend)(void* sendComm);
    ncclResult_t (*closeRecv)(void* recvComm);
    ncclResult_t (*closeListen)(void* listenComm);
    ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
    ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
    ncclResult_t (*makeVDevice)(int* d, ncclNetVDeviceProps_v11_t* props);
} ncclNet_v9_t;

typedef struct {
    const char* name;
    ncclResult_t (*init)(ncclDebugLogger_t logFunction, ncclProfilerCallback_t profFunction);
    ncclResult_t (*devices)(int* ndev);
    ncclResult_t (*getProperties)(int dev, ncclNetProperties_v9_t* props);
    ncclResult_t (*listen)(int dev, void* handle, void** listenComm);
    ncclResult_t (*connect)(int dev, ncclNetCommConfig_v10_t* config, void* handle, void** sendComm,
                            ncclNetDeviceHandle_v10_t** sendDevComm);
    ncclResult_t (*accept)(void* listenComm, void** recvComm, ncclNetDeviceHandle_v10_t** recvDevComm);
    ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
    ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset, int fd, void** mhandle);
    ncclResult_t (*deregMr)(void* comm, void* mhandle);
    ncclResult_t (*isend)(void* sendComm, void* data, size_t size, int tag, void* mhandle, void* phandle, void** request);
    ncclResult_t (*irecv)(void* recvComm, int n, void** data, size_t* sizes, int* tags, void** mhandles, void** phandles,
                          void** request);
    ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles, void** request);
    ncclResult_t (*test)(void* request, int* done, int* sizes);
    ncclResult_t (*closeSend)(void* sendComm);
    ncclResult_t (*closeRecv)(void* recvComm);
    ncclResult_t (*closeListen)(void* listenComm);
    ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
    ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
    ncclResult_t (*makeVDevice)(int* d, ncclNetVDeviceProps_v11_t* props);
} ncclNet_v10_t;

/* v11 and v12 differ only in their properties and virtual-device types. */
#define FABRICAUTH_NCCL_NET_V11_V12_TABLE(PROPS, VPROPS, DEVHANDLE)                                                     \
    struct {                                                                                                           \
        const char* name;                                                                                              \
        ncclResult_t (*init)(void** ctx, uint64_t commId, ncclNetCommConfig_v10_t* config,                             \
                             ncclDebugLogger_t logFunction, ncclProfilerCallback_t profFunction);                      \
        ncclResult_t (*devices)(int* ndev);                                                                            \
        ncclResult_t (*getProperties)(int dev, PROPS* props);                                                          \
        ncclResult_t (*listen)(void* ctx, int dev, void* handle, void** listenComm);                                   \
        ncclResult_t (*connect)(void* ctx, int dev, void* handle, void** sendComm, DEVHANDLE** sendDevComm);           \
        ncclResult_t (*accept)(void* listenComm, void** recvComm, DEVHANDLE** recvDevComm);                            \
        ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);                          \
        ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset, int fd,            \
                                    void** mhandle);                                                                   \
        ncclResult_t (*deregMr)(void* comm, void* mhandle);                                                            \
        ncclResult_t (*isend)(void* sendComm, void* data, size_t size, int tag, void* mhandle, void* phandle,          \
                              void** request);                                                                         \
        ncclResult_t (*irecv)(void* recvComm, int n, void** data, size_t* sizes, int* tags, void** mhandles,           \
                              void** phandles, void** request);                                                        \
        ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles, void** request);       \
        ncclResult_t (*test)(void* request, int* done, int* sizes);                                                    \
        ncclResult_t (*closeSend)(void* sendComm);                                                                     \
        ncclResult_t (*closeRecv)(void* recvComm);                                                                     \
        ncclResult_t (*closeListen)(void* listenComm);                                                                 \
        ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);                                   \
        ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);                                           \
        ncclResult_t (*makeVDevice)(int* d, VPROPS* props);                                                            \
        ncclResult_t (*finalize)(void* ctx);                                                                           \
        ncclResult_t (*setNetAttr)(void* ctx, ncclNetAttr_v11_t* netAttr);                                             \
    }

typedef FABRICAUTH_NCCL_NET_V11_V12_TABLE(ncclNetProperties_v11_t, ncclNetVDeviceProps_v11_t,
                                          ncclNetDeviceHandle_v11_t) ncclNet_v11_t;
typedef FABRICAUTH_NCCL_NET_V11_V12_TABLE(ncclNetProperties_v12_t, ncclNetVDeviceProps_v12_t,
                                          ncclNetDeviceHandle_v12_t) ncclNet_v12_t;

#if defined(__LP64__)
_Static_assert(sizeof(ncclNetProperties_v9_t) == 104, "ncclNetProperties_v9_t layout (net_v9.h)");
_Static_assert(offsetof(ncclNetProperties_v9_t, maxP2pBytes) == 88, "ncclNetProperties_v9_t.maxP2pBytes");
_Static_assert(sizeof(ncclNetProperties_v11_t) == 112, "ncclNetProperties_v11_t layout (net_v11.h)");
_Static_assert(offsetof(ncclNetProperties_v12_t, maxP2pBytes) == 104, "ncclNetProperties_v12_t.maxP2pBytes");
_Static_assert(offsetof(ncclNetProperties_v12_t, planeId) == 118, "ncclNetProperties_v12_t.planeId");
_Static_assert(sizeof(ncclNet_v9_t) == 20 * sizeof(void*), "ncclNet_v9_t: name + 19 functions (net_v9.h)");
_Static_assert(sizeof(ncclNet_v10_t) == 20 * sizeof(void*), "ncclNet_v10_t: name + 19 functions (net_v10.h)");
_Static_assert(sizeof(ncclNet_v12_t) == 22 * sizeof(void*), "ncclNet_v12_t: name + 21 functions (net_v12.h)");
#endif

extern const ncclNet_v9_t ncclNetPlugin_v9;
extern const ncclNet_v10_t ncclNetPlugin_v10;
extern const ncclNet_v11_t ncclNetPlugin_v11;
extern const ncclNet_v12_t ncclNetPlugin_v12;

#ifdef __cplusplus
}
#endif

#endif
