// Intel Multi-Buffer Crypto for IPsec (Debian 12: 1.3, package libipsec-mb-dev).
// The package ships no pkg-config file, so the module map links IPSec_MB by name.
#include <intel-ipsec-mb.h>
