/*
 * The NCCL network plug-in ABI, declared by FabricAuth from NCCL's published
 * headers rather than copied from them: NVIDIA/nccl v2.30.7 (commit 5067397c,
 * makefiles/version.mk), src/include/plugin/net/net_v8.h,
 * src/include/nccl_common.h, plugins/net/example/nccl/{net.h,err.h,net_device.h}.
 *
 * Field order and types must match NCCL's exactly: NCCL reads these structs
 * from the symbol `ncclNetPlugin_v8` it finds with dlsym (src/plugin/net/net_v8.cc).
 * Static asserts at the end pin the layout on LP64 Linux.
 *
 * NCCL looks for ncclNetPlugin_v12 first and falls back version by version
 * (src/plugin/net.cc); v9..v12 are declared in nccl_net_fabricauth_v9_v12.h.
 */
#ifndef FABRICAUTH_NCCL_NET_H
#define FABRICAUTH_NCCL_NET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* err.h: the results every call returns. */
typedef enum {
    ncclSuccess = 0,
    ncclUnhandledCudaError = 1,
    ncclSystemError = 2,   /* network or peer failure: a refused handshake, a forged message */
    ncclInternalError = 3, /* misuse of the API (bad handle, range outside a registration) */
    ncclInvalidArgument = 4,
    ncclInvalidUsage = 5,
    ncclRemoteError = 6
} ncclResult_t;

/* nccl_common.h: the logger NCCL hands to init. */
typedef enum {
    NCCL_LOG_NONE = 0,
    NCCL_LOG_VERSION = 1,
    NCCL_LOG_WARN = 2,
    NCCL_LOG_INFO = 3,
    NCCL_LOG_ABORT = 4,
    NCCL_LOG_TRACE = 5
} ncclDebugLogLevel;

/* Subsystem bits of the logger's `flags` (nccl_common.h ncclDebugLogSubSys). */
#define FABRICAUTH_NCCL_INIT 0x1UL
#define FABRICAUTH_NCCL_NET 0x10UL

typedef void (*ncclDebugLogger_t)(ncclDebugLogLevel level, unsigned long flags, const char* file, int line,
                                  const char* fmt, ...);

/* net.h */
#define NCCL_NET_HANDLE_MAXSIZE 128
#define NCCL_NET_OPTIONAL_RECV_COMPLETION 0x1
#define NCCL_PTR_HOST 0x1
#define NCCL_PTR_CUDA 0x2
#define NCCL_PTR_DMABUF 0x4
/* Most requests NCCL keeps outstanding on one comm. */
#define NCCL_NET_MAX_REQUESTS 32

/* net_device.h */
#define NCCL_NET_DEVICE_INVALID_VERSION 0x0
typedef enum {
    NCCL_NET_DEVICE_HOST = 0,
    NCCL_NET_DEVICE_UNPACK = 1,
    NCCL_NET_DEVICE_GIN_PROXY = 2,
    NCCL_NET_DEVICE_GIN_GDAKI = 3
} ncclNetDeviceType;

typedef struct {
    ncclNetDeviceType netDeviceType;
    int netDeviceVersion;
    void* handle;
    size_t size;
    int needsProxyProgress;
} ncclNetDeviceHandle_v8_t;

/* net_v8.h */
typedef struct {
    char* name;                      /* for logs */
    char* pciPath;                   /* /sys path of the PCI device, or NULL (virtual NIC) */
    uint64_t guid;                   /* node GUID of the NIC */
    int ptrSupport;                  /* NCCL_PTR_* bits */
    int regIsGlobal;                 /* regMr is not tied to one comm */
    int speed;                       /* Mb/s */
    int port;                        /* port number */
    float latency;                   /* microseconds */
    int maxComms;
    int maxRecvs;                    /* largest grouped receive */
    ncclNetDeviceType netDeviceType;
    int netDeviceVersion;
} ncclNetProperties_v8_t;

typedef struct {
    const char* name;
    ncclResult_t (*init)(ncclDebugLogger_t logFunction);
    ncclResult_t (*devices)(int* ndev);
    ncclResult_t (*getProperties)(int dev, ncclNetProperties_v8_t* props);
    /* Must not block; the handle is at most NCCL_NET_HANDLE_MAXSIZE bytes. */
    ncclResult_t (*listen)(int dev, void* handle, void** listenComm);
    /* Must not block: success with *sendComm == NULL means "call again". */
    ncclResult_t (*connect)(int dev, void* handle, void** sendComm, ncclNetDeviceHandle_v8_t** sendDevComm);
    /* Must not block: success with *recvComm == NULL means "call again". */
    ncclResult_t (*accept)(void* listenComm, void** recvComm, ncclNetDeviceHandle_v8_t** recvDevComm);
    ncclResult_t (*regMr)(void* comm, void* data, size_t size, int type, void** mhandle);
    ncclResult_t (*regMrDmaBuf)(void* comm, void* data, size_t size, int type, uint64_t offset, int fd, void** mhandle);
    ncclResult_t (*deregMr)(void* comm, void* mhandle);
    /* *request == NULL: cannot start now, NCCL calls again. */
    ncclResult_t (*isend)(void* sendComm, void* data, int size, int tag, void* mhandle, void** request);
    ncclResult_t (*irecv)(void* recvComm, int n, void** data, int* sizes, int* tags, void** mhandles, void** request);
    ncclResult_t (*iflush)(void* recvComm, int n, void** data, int* sizes, void** mhandles, void** request);
    /* sizes: one per buffer of a grouped receive. */
    ncclResult_t (*test)(void* request, int* done, int* sizes);
    ncclResult_t (*closeSend)(void* sendComm);
    ncclResult_t (*closeRecv)(void* recvComm);
    ncclResult_t (*closeListen)(void* listenComm);
    ncclResult_t (*getDeviceMr)(void* comm, void* mhandle, void** dptr_mhandle);
    ncclResult_t (*irecvConsumed)(void* recvComm, int n, void* request);
} ncclNet_v8_t;

#if defined(__LP64__)
_Static_assert(sizeof(ncclNetProperties_v8_t) == 64, "ncclNetProperties_v8_t layout (net_v8.h)");
_Static_assert(offsetof(ncclNetProperties_v8_t, maxRecvs) == 48, "ncclNetProperties_v8_t.maxRecvs");
_Static_assert(sizeof(ncclNet_v8_t) == 19 * sizeof(void*), "ncclNet_v8_t: name + 18 functions (net_v8.h)");
_Static_assert(sizeof(ncclNetDeviceHandle_v8_t) == 32, "ncclNetDeviceHandle_v8_t layout (net_device.h)");
#endif

/* The table NCCL looks up; defined in plugin_v8.c. */
extern const ncclNet_v8_t ncclNetPlugin_v8;

/* nccl_common.h: the profiler callback v10+ pass to init (the plug-in reports no events). */
typedef ncclResult_t (*ncclProfilerCallback_t)(void** eHandle, int type, void* pHandle, int64_t pluginId, void* extData);

/*
 * Logs `message` through the logger NCCL gave init (stderr before init).
 * Swift cannot call NCCL's variadic logger itself.
 */
void fabricauth_nccl_log(ncclDebugLogLevel level, unsigned long flags, const char* message);

#ifdef __cplusplus
}
#endif

#include "nccl_net_fabricauth_v9_v12.h"

#endif
