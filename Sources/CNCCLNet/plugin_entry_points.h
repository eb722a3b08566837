/*
 * The plug-in's implementation, written in Swift (Sources/NCCLNetPlugin,
 * `@_cdecl` functions) and linked into the same shared library. The C tables
 * adapt each ABI version to these; they are not part of the module's public
 * header so that Swift does not import them next to its own definitions.
 *
 * Sizes are size_t and sizes arrays have FABRICAUTH_NCCL_MAX_RECVS entries so
 * that v8's int sizes and v9+'s size_t sizes adapt without a second implementation.
 */
#ifndef FABRICAUTH_NCCL_ENTRY_POINTS_H
#define FABRICAUTH_NCCL_ENTRY_POINTS_H

#include "nccl_net_fabricauth.h"

#define FABRICAUTH_NCCL_MAX_RECVS 8

/* v8..v10: once per load. */
int32_t fabricauth_nccl_init(void);
/* v11+: once per communicator; the first of a load reads the environment. */
int32_t fabricauth_nccl_init_context(uint64_t commId, int trafficClass, void** ctx);
int32_t fabricauth_nccl_finalize(void* ctx);
int32_t fabricauth_nccl_devices(int* ndev);
int32_t fabricauth_nccl_get_properties_v8(int dev, ncclNetProperties_v8_t* props);
/* ctx: NULL before v11. trafficClass: NCCL_NET_TRAFFIC_CLASS_UNDEF for the default. */
int32_t fabricauth_nccl_listen(void* ctx, int dev, void* handle, void** listenComm);
int32_t fabricauth_nccl_connect(void* ctx, int dev, void* handle, int trafficClass, void** sendComm);
int32_t fabricauth_nccl_accept(void* listenComm, void** recvComm);
int32_t fabricauth_nccl_reg_mr(void* comm, void* data, size_t size, int type, void** mhandle);
int32_t fabricauth_nccl_dereg_mr(void* comm, void* mhandle);
int32_t fabricauth_nccl_isend(void* sendComm, void* data, size_t size, uint32_t tag, void* mhandle, void** request);
int32_t fabricauth_nccl_irecv(void* recvComm, int n, void** data, const size_t* sizes, const uint32_t* tags,
                              void** mhandles, void** request);
/* On done, writes *count sizes (1, or n of a grouped receive) to sizes[0..<count]. */
int32_t fabricauth_nccl_test(void* request, int* done, size_t* sizes, int* count);
int32_t fabricauth_nccl_close_send(void* sendComm);
int32_t fabricauth_nccl_close_recv(void* recvComm);
int32_t fabricauth_nccl_close_listen(void* listenComm);

/* C adapters shared by every table (plugin_v8.c). */
void fabricauth_nccl_set_logger(ncclDebugLogger_t logFunction);
ncclResult_t fabricauth_nccl_irecv_wide(void* recvComm, int n, void** data, const size_t* sizes, int* tags,
                                        void** mhandles, void** request);
ncclResult_t fabricauth_nccl_test_int(void* request, int* done, int* sizes);
ncclResult_t fabricauth_nccl_iflush_none(void* recvComm, int n, void** data, int* sizes, void** mhandles,
                                         void** request);
ncclResult_t fabricauth_nccl_reg_mr_dmabuf(void* comm, void* data, size_t size, int type, uint64_t offset, int fd,
                                           void** mhandle);
ncclResult_t fabricauth_nccl_accept_host(void* listenComm, void** recvComm, ncclNetDeviceHandle_v8_t** recvDevComm);

#endif
