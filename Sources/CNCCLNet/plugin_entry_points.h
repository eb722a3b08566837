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

int32_t fabricauth_nccl_init(void);
int32_t fabricauth_nccl_devices(int* ndev);
int32_t fabricauth_nccl_get_properties_v8(int dev, ncclNetProperties_v8_t* props);
int32_t fabricauth_nccl_listen(int dev, void* handle, void** listenComm);
int32_t fabricauth_nccl_connect(int dev, void* handle, void** sendComm);
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

#endif
