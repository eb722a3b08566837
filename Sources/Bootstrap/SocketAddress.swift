#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address parsed from numeric text (no DNS: the
/// fabric is addressed by IP, and a resolver lookup could hang). Verbs keeps
/// its own copy for rdma_cm; the two modules share no socket code.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    init(host: String, port: UInt16) throws(BootstrapError) {
        if host.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else {
                throw BootstrapError(.invalidAddress, function: "inet_pton", reason: "'\(host)' is not a numeric IPv6 address")
            }
            withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else {
                throw BootstrapError(.invalidAddress, function: "inet_pton", reason: "'\(host)' is not a numeric IPv4 address")
            }
            withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
    }

    mutating func withSockaddr<R>(_ body: (UnsafeMutablePointer<sockaddr>, socklen_t) -> R) -> R {
        let len = length
        return withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, len) }
        }
    }
}
