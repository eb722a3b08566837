/*
 * ncclNetPlugin_v9 .. _v12 (NVIDIA/nccl v2.30.7 src/include/plugin/net/net_v9.h
 * .. net_v12.h): thin adapters onto the same Swift implementation as v8. NCCL
 * looks for v12 first (src/plugin/net.cc), so a new NCCL gets the newest
 * table and an older one the newest it knows.
 */
#include <string.h>

#include "nccl_net_fabricauth.h"
#include "plugin_entry_points.h"

/* The channel's largest message (DataPathLimits.maxPayloadBytes, 2^30); NCCL splits larger transfers. */
#define FABRICAUTH_MAX_TRANSFER_BYTES ((size_t)1 << 30)

/* Fields every version shares, from the one implementation of v8's getProperties. */
#define FILL_COMMON(props, p8)                                                                                         \
    do {                                                                                                               \
        (props)->name = (p8).name;                                                                                     \
        (props)->pciPath = (p8).pciPath;                                                                               \
        (props)->guid = (p8).guid;                                                                                     \
        (props)->ptrSupport = (p8).ptrSupport;                                                                         \
        (props)->regIsGlobal = (p8).regIsGlobal;                                                                       \
        (props)->forceFlush = 0;                                                                                       \
        (props)->speed = (p8).speed;                                                                                   \
        (props)->port = (p8).port;                                                                                     \
        (props)->latency = (p8).latency;                                                                               \
        (props)->maxComms = (p8).maxComms;                                                                             \
        (props)->maxRecvs = (p8).maxRecvs;                                                                             \
        (props)->netDeviceType = (p8).netDeviceType;                                                                   \
        (props)->netDeviceVersion = (p8).netDeviceVersion;                                                             \
        (props)->vProps.ndevs = 1; /* a physical device, not a virtual one fused from several */                      \
        (props)->vProps.devs[0] = dev;                                                                                 \
        (props)->maxP2pBytes = FABRICAUTH_MAX_TRANSFER_BYTES;                                                          \
    } while (0)

static ncclResult_t get_properties_v9(int dev, ncclNetProperties_v9_t* props) {
    ncclNetProperties_v8_t p8;
    ncclResult_t rc = (ncclResult_t)fabricauth_nccl_get_properties_v8(dev, &p8);
    if (rc != ncclSuccess) return rc;
    memset(props, 0, sizeof *props);
    FILL_COMMON(props, p8);
    props->maxCollBytes = FABRICAUTH_MAX_TRANSFER_BYTES;
    return ncclSuccess;
}

static ncclResult_t get_properties_v11(int dev, ncclNetProperties_v11_t* props) {
    ncclNetProperties_v8_t p8;
    ncclResult_t rc = (ncclResult_t)fabricauth_nccl_get_properties_v8(dev, &p8);
    if (rc != ncclSuccess) return rc;
    memset(props, 0, sizeof *props);
    FILL_COMMON(props, p8);
    props->maxCollBytes = FABRICAUTH_MAX_TRANSFER_BYTES;
    props->maxMultiRequestSize = 1; /* as NCCL's IB transport (src/transport/net_ib/init.cc) */
    return ncclSuccess;
}

static ncclResult_t get_properties_v12(int dev, ncclNetProperties_v12_t* props) {
    ncclNetProperties_v8_t p8;
    ncclResult_t rc = (ncclResult_t)fabricauth_nccl_get_properties_v8(dev, &p8);
    if (rc != ncclSuccess) return rc;
    memset(props, 0, sizeof *props);
    FILL_COMMON(props, p8);
    props->maxMultiRequestSize = 1;
    props->railId = NCCL_NET_ID_UNDEF; /* NCCL ignores undefined rail and plane IDs */
    props->planeId = NCCL_NET_ID_UNDEF;
    return ncclSuccess;
}

static ncclResult_t init_v9(ncclDebugLogger_t logFunction) {
    fabricauth_nccl_set_logger(logFunction);
    return (ncclResult_t)fabricauth_nccl_init();
}

static ncclResult_t init_v10(ncclDebugLogger_t logFunction, ncclProfilerCallback_t profFunction) {
    (void)profFunction; /* no profiler events yet */
    return init_v9(logFunction);
}

static ncclResult_t init_v11(void** ctx, uint64_t commId, ncclNetCommConfig_v10_t* config,
                             ncclDebugLogger_t logFunction, ncclProfilerCallback_t profFunction) {
    (void)profFunction;
    fabricauth_nccl_set_logger(logFunction);
    /* v11 moved the traffic class from connect to the communicator's config. */
    int trafficClass = config ? config->trafficClass : NCCL_NET_TRAFFIC_CLASS_UNDEF;
    return (ncclResult_t)fabricauth_nccl_init_context(commId, trafficClass, ctx);
}

static ncclResult_t finalize(void* ctx) { return (ncclResult_t)fabricauth_nccl_finalize(ctx); }

static ncclResult_t set_net_attr(void* ctx, ncclNetAttr_v11_t* netAttr) {
    (void)ctx;
    (void)netAttr; /* hints about concurrency of the next operation; nothing to tune yet */
    return ncclSuccess;
}

static ncclResult_t devices(int* ndev) { return (ncclResult_t)fabricauth_nccl_devices(ndev); }

static ncclResult_t listen_noctx(int dev, void* handle, void** listenComm) {
    return (ncclResult_t)fabricauth_nccl_listen(NULL, dev, handle, listenComm);
}

static ncclResult_t listen_ctx(void* ctx, int dev, void* handle, void** listenComm) {
    return (ncclResult_t)fabricauth_nccl_listen(ctx, dev, handle, listenComm);
}

static ncclResult_t connect_v9(int dev, void* handle, void** sendComm, ncclNetDeviceHandle_v9_t** sendDevComm) {
    if (sendDevComm) *sendDevComm = NULL;
    return (ncclResult_t)fabricauth_nccl_connect(NULL, dev, handle, NCCL_NET_TRAFFIC_CLASS_UNDEF, sendComm);
}

static ncclResult_t connect_v10(int dev, ncclNetCommConfig_v10_t* config, void* handle, void** sendComm,
                                ncclNetDeviceHandle_v10_t** sendDevComm) {
    if (sendDevComm) *sendDevComm = NULL;
    int trafficClass = config ? config->trafficClass : NCCL_NET_TRAFFIC_CLASS_UNDEF;
    return (ncclResult_t)fabricauth_nccl_connect(NULL, dev, handle, trafficClass, sendComm);
}

static ncclResult_t connect_ctx(void* ctx, int dev, void* handle, void** sendComm, ncclNetDeviceHandle_v11_t** sendDevComm) {
    if (sendDevComm) *sendDevComm = NULL;
    return (ncclResult_t)fabricauth_nccl_connect(ctx, dev, handle, NCCL_NET_TRAFFIC_CLASS_UNDEF, sendComm);
}

static ncclResult_t reg_mr(void* comm, void* data, size_t size, int type, void** mhandle) {
    return (ncclResult_t)fabricauth_nccl_reg_mr(comm, data, size, type, mhandle);
}

static ncclResult_t dereg_mr(void* comm, void* mhandle) { return (ncclResult_t)fabricauth_nccl_dereg_mr(comm, mhandle); }

static ncclResult_t isend_v9(void* sendComm, void* data, size_t size, int tag, void* mhandle, void** request) {
    return (ncclResult_t)fabricauth_nccl_isend(sendComm, data, size, (uint32_t)tag, mhandle, request);
}

static ncclResult_t isend_v10(void* sendComm, void* data, size_t size, int tag, void* mhandle, void* phandle,
                              void** request) {
    (void)phandle;
    return isend_v9(sendComm, data, size, tag, mhandle, request);
}

static ncclResult_t irecv_v9(void* recvComm, int n, void** data, size_t* sizes, int* tags, void** mhandles,
                             void** request) {
    return fabricauth_nccl_irecv_wide(recvComm, n, data, sizes, tags, mhandles, request);
}

static ncclResult_t irecv_v10(void* recvComm, int n, void** data, size_t* sizes, int* tags, void** mhandles,
                              void** phandles, void** request) {
    (void)phandles;
    return fabricauth_nccl_irecv_wide(recvComm, n, data, sizes, tags, mhandles, request);
}

static ncclResult_t close_send(void* sendComm) { return (ncclResult_t)fabricauth_nccl_close_send(sendComm); }
static ncclResult_t close_recv(void* recvComm) { return (ncclResult_t)fabricauth_nccl_close_recv(recvComm); }
static ncclResult_t close_listen(void* listenComm) { return (ncclResult_t)fabricauth_nccl_close_listen(listenComm); }

/* makeVDevice is left NULL: one physical device, nothing to fuse (NCCL checks before calling it). */
#define COMMON_DATA_PATH                                                                                               \
    .accept = fabricauth_nccl_accept_host, .regMr = reg_mr, .regMrDmaBuf = fabricauth_nccl_reg_mr_dmabuf,              \
    .deregMr = dereg_mr, .iflush = fabricauth_nccl_iflush_none, .test = fabricauth_nccl_test_int,                      \
    .closeSend = close_send, .closeRecv = close_recv, .closeListen = close_listen, .getDeviceMr = NULL,                 \
    .irecvConsumed = NULL, .makeVDevice = NULL

__attribute__((visibility("default"))) const ncclNet_v9_t ncclNetPlugin_v9 = {
    .name = "FabricAuth",
    .init = init_v9,
    .devices = devices,
    .getProperties = get_properties_v9,
    .listen = listen_noctx,
    .connect = connect_v9,
    .isend = isend_v9,
    .irecv = irecv_v9,
    COMMON_DATA_PATH,
};

__attribute__((visibility("default"))) const ncclNet_v10_t ncclNetPlugin_v10 = {
    .name = "FabricAuth",
    .init = init_v10,
    .devices = devices,
    .getProperties = get_properties_v9,
    .listen = listen_noctx,
    .connect = connect_v10,
    .isend = isend_v10,
    .irecv = irecv_v10,
    COMMON_DATA_PATH,
};

__attribute__((visibility("default"))) const ncclNet_v11_t ncclNetPlugin_v11 = {
    .name = "FabricAuth",
    .init = init_v11,
    .devices = devices,
    .getProperties = get_properties_v11,
    .listen = listen_ctx,
    .connect = connect_ctx,
    .isend = isend_v10,
    .irecv = irecv_v10,
    COMMON_DATA_PATH,
    .finalize = finalize,
    .setNetAttr = set_net_attr,
};

__attribute__((visibility("default"))) const ncclNet_v12_t ncclNetPlugin_v12 = {
    .name = "FabricAuth",
    .init = init_v11,
    .devices = devices,
    .getProperties = get_properties_v12,
    .listen = listen_ctx,
    .connect = connect_ctx,
    .isend = isend_v10,
    .irecv = irecv_v10,
    COMMON_DATA_PATH,
    .finalize = finalize,
    .setNetAttr = set_net_attr,
};
