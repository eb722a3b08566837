#include "CVerbsShim.h"

#include <errno.h>

struct ibv_mr *fa_ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, unsigned int access) {
    return ibv_reg_mr(pd, addr, length, (int)access);
}

int fa_ibv_query_port(struct ibv_context *context, uint8_t port_num, struct ibv_port_attr *port_attr) {
    return ibv_query_port(context, port_num, port_attr);
}

int fa_ibv_query_gid_entry(struct ibv_context *context, uint32_t port_num, uint32_t index,
                           union ibv_gid *gid, uint32_t *gid_type, uint32_t *ndev_ifindex) {
    struct ibv_gid_entry entry;
    int rc = ibv_query_gid_ex(context, port_num, index, &entry, 0);
    if (rc != 0) {
        // ibv_query_gid_ex returns a positive errno value instead of setting errno.
        errno = rc;
        return -1;
    }
    *gid = entry.gid;
    *gid_type = entry.gid_type;
    *ndev_ifindex = entry.ndev_ifindex;
    return 0;
}
