// libibverbs from rdma-core (Debian 12: rdma-core 44, package libibverbs-dev).
#include <infiniband/verbs.h>
