// C entry points for libibverbs functions that Swift cannot call directly.
//
// rdma-core's <infiniband/verbs.h> defines several verbs as function-like
// macros that pick an implementation at compile time. Swift's Clang importer
// does not import function-like macros, so each such verb gets one prefixed
// wrapper here. Static inline functions (ibv_post_send, ibv_poll_cq, ...)
// import fine and are called from Swift directly.
#ifndef FABRICAUTH_CVERBSSHIM_H
#define FABRICAUTH_CVERBSSHIM_H

#include <infiniband/verbs.h>
#include <stddef.h>
#include <stdint.h>

/// `ibv_reg_mr` is a macro (rdma-core 44, verbs.h) that routes to
/// `ibv_reg_mr_iova2` when the access flags need it (IBV_ACCESS_OPTIONAL_RANGE).
struct ibv_mr *fa_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, unsigned int access);

/// `ibv_query_port` is a macro that expands to the static `___ibv_query_port`,
/// which fills the extended fields (e.g. `active_speed_ex`); the exported
/// symbol `ibv_query_port` leaves them zeroed (rust-ibverbs notes the same).
int fa_ibv_query_port(struct ibv_context *context, uint8_t port_num, struct ibv_port_attr *port_attr);

/// Returns the GID type (enum ibv_gid_type_sysfs / IBV_GID_TYPE_*) of one GID
/// table entry through `ibv_query_gid_ex` (a macro in rdma-core 44), or -1 with
/// errno set. The GID value itself is written to `gid`.
int fa_ibv_query_gid_entry(struct ibv_context *context, uint32_t port_num, uint32_t index,
                           union ibv_gid *gid, uint32_t *gid_type, uint32_t *ndev_ifindex);

#endif
