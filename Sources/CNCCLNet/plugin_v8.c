/*
 * ncclNetPlugin_v8: the table NCCL 2.19-2.30 dlsym()s (NVIDIA/nccl v2.30.7
 * src/plugin/net/net_v8.cc), adapting v8's int sizes and tags to the
 * implementation in Swift (plugin_entry_points.h), and the adapters the
 * newer tables (plugin_v9_v12.c) share.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "nccl_net_fabricauth.h"
#include "plugin_entry_points.h"

/* Set by init; NCCL may call init again after dlclose/dlopen with a new logger. */
static _Atomic(ncclDebugLogger_t) logger = NULL;

void fabricauth_nccl_set_logger(ncclDebugLogger_t logFunction) {
    if (logFunction) atomic_store(&logger, logFunction);
}

void fabricauth_nccl_log(ncclDebugLogLevel level, unsigned long flags, const char* message) {
    ncclDebugLogger_t log = atomic_load(&logger);
    if (log) {
        /* NCCL prints file:line only for TRACE; the prefix tells operators where a line comes from. */
        log(level, flags, "fabricauth", 0, "NET/FabricAuth : %s", message);
    } else if (level <= NCCL_LOG_WARN) {
        fprintf(stderr, "NET/FabricAuth : %s\n", message);
    }
}

ncclResult_t fabricauth_nccl_irecv_wide(void* recvComm, int n, void** data, const size_t* sizes, int* tags,
                                        void** mhandles, void** request) {
    if (n < 1 || n > FABRICAUTH_NCCL_MAX_RECVS || !data || !sizes || !tags || !mhandles || !request) {
        fabricauth_nccl_log(NCCL_LOG_WARN, FABRICAUTH_NCCL_NET, "irecv: n must be 1...8 with data, sizes, tags, mhandles");
        return ncclInternalError;
    }
    uint32_t utags[FABRICAUTH_NCCL_MAX_RECVS];
    for (int i = 0; i < n; i++) utags[i] = (uint32_t)tags[i];
    return (ncclResult_t)fabricauth_nccl_irecv(recvComm, n, data, sizes, utags, mhandles, request);
}

ncclResult_t fabricauth_nccl_test_int(void* request, int* done, int* sizes) {
    size_t wide[FABRICAUTH_NCCL_MAX_RECVS];
    int count = 0;
    ncclResult_t rc = (ncclResult_t)fabricauth_nccl_test(request, done, wide, &count);
    /* NCCL passes sizes == NULL when it does not need them (net.cc). */
    if (rc == ncclSuccess && *done && sizes) {
        for (int i = 0; i < count; i++) sizes[i] = (int)wide[i];
    }
    return rc;
}

ncclResult_t fabricauth_nccl_iflush_none(void* recvComm, int n, void** data, int* sizes, void** mhandles,
                                         void** request) {
    (void)recvComm;
    (void)n;
    (void)data;
    (void)sizes;
    (void)mhandles;
    /* Host memory holds the bytes once test has copied them; NCCL calls iflush only for GPU buffers. */
    *request = NULL;
    return ncclSuccess;
}

ncclResult_t fabricauth_nccl_reg_mr_dmabuf(void* comm, void* data, size_t size, int type, uint64_t offset, int fd,
                                           void** mhandle) {
    (void)offset;
    (void)fd;
    /* getProperties advertises NCCL_PTR_HOST only, so NCCL never asks for DMA-BUF. */
    if (type != NCCL_PTR_HOST) {
        fabricauth_nccl_log(NCCL_LOG_WARN, FABRICAUTH_NCCL_NET, "regMrDmaBuf: only host memory is supported");
        return ncclInternalError;
    }
    return (ncclResult_t)fabricauth_nccl_reg_mr(comm, data, size, type, mhandle);
}

ncclResult_t fabricauth_nccl_accept_host(void* listenComm, void** recvComm, ncclNetDeviceHandle_v8_t** recvDevComm) {
    /* Host-only plug-in: no device offload, whatever NCCL asked for. */
    if (recvDevComm) *recvDevComm = NULL;
    return (ncclResult_t)fabricauth_nccl_accept(listenComm, recvComm);
}

static ncclResult_t init_v8(ncclDebugLogger_t logFunction) {
    fabricauth_nccl_set_logger(logFunction);
    return (ncclResult_t)fabricauth_nccl_init();
}

static ncclResult_t devices_v8(int* ndev) { return (ncclResult_t)fabricauth_nccl_devices(ndev); }

static ncclResult_t get_properties_v8(int dev, ncclNetProperties_v8_t* props) {
    return (ncclResult_t)fabricauth_nccl_get_properties_v8(dev, props);
}

static ncclResult_t listen_v8(int dev, void* handle, void** listenComm) {
    return (ncclResult_t)fabricauth_nccl_listen(NULL, dev, handle, listenComm);
}

static ncclResult_t connect_v8(int dev, void* handle, void** sendComm, ncclNetDeviceHandle_v8_t** sendDevComm) {
    if (sendDevComm) *sendDevComm = NULL;
    return (ncclResult_t)fabricauth_nccl_connect(NULL, dev, handle, -1, sendComm);
}

static ncclResult_t reg_mr_v8(void* comm, void* data, size_t size, int type, void** mhandle) {
    return (ncclResult_t)fabricauth_nccl_reg_mr(comm, data, size, type, mhandle);
}

static ncclResult_t dereg_mr_v8(void* comm, void* mhandle) {
    return (ncclResult_t)fabricauth_nccl_dereg_mr(comm, mhandle);
}

static ncclResult_t isend_v8(void* sendComm, void* data, int size, int tag, void* mhandle, void** request) {
    if (size < 0) {
        fabricauth_nccl_log(NCCL_LOG_WARN, FABRICAUTH_NCCL_NET, "isend: negative size");
        return ncclInternalError;
    }
    return (ncclResult_t)fabricauth_nccl_isend(sendComm, data, (size_t)size, (uint32_t)tag, mhandle, request);
}

static ncclResult_t irecv_v8(void* recvComm, int n, void** data, int* sizes, int* tags, void** mhandles,
                             void** request) {
    if (n < 1 || n > FABRICAUTH_NCCL_MAX_RECVS || !sizes) {
        fabricauth_nccl_log(NCCL_LOG_WARN, FABRICAUTH_NCCL_NET, "irecv: n must be 1...8 with sizes");
        return ncclInternalError;
    }
    size_t wide[FABRICAUTH_NCCL_MAX_RECVS];
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0) {
            fabricauth_nccl_log(NCCL_LOG_WARN, FABRICAUTH_NCCL_NET, "irecv: negative size");
            return ncclInternalError;
        }
        wide[i] = (size_t)sizes[i];
    }
    return fabricauth_nccl_irecv_wide(recvComm, n, data, wide, tags, mhandles, request);
}

static ncclResult_t close_send(void* sendComm) { return (ncclResult_t)fabricauth_nccl_close_send(sendComm); }
static ncclResult_t close_recv(void* recvComm) { return (ncclResult_t)fabricauth_nccl_close_recv(recvComm); }
static ncclResult_t close_listen(void* listenComm) { return (ncclResult_t)fabricauth_nccl_close_listen(listenComm); }

__attribute__((visibility("default"))) const ncclNet_v8_t ncclNetPlugin_v8 = {
    /* No spaces: NCCL_NET=FabricAuth selects the plug-in by this name. */
    .name = "FabricAuth",
    .init = init_v8,
    .devices = devices_v8,
    .getProperties = get_properties_v8,
    .listen = listen_v8,
    .connect = connect_v8,
    .accept = fabricauth_nccl_accept_host,
    .regMr = reg_mr_v8,
    .regMrDmaBuf = fabricauth_nccl_reg_mr_dmabuf,
    .deregMr = dereg_mr_v8,
    .isend = isend_v8,
    .irecv = irecv_v8,
    .iflush = fabricauth_nccl_iflush_none,
    .test = fabricauth_nccl_test_int,
    .closeSend = close_send,
    .closeRecv = close_recv,
    .closeListen = close_listen,
    /* Host plug-in (netDeviceType NCCL_NET_DEVICE_HOST): NCCL calls neither. */
    .getDeviceMr = NULL,
    .irecvConsumed = NULL,
};
