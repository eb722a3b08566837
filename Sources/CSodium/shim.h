// libsodium (Debian 12: 1.0.18, package libsodium-dev).
#include <sodium.h>
