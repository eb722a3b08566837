// librdmacm from rdma-core (Debian 12: rdma-core 44, package librdmacm-dev).
#include <rdma/rdma_cma.h>
