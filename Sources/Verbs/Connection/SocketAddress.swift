#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 socket address parsed from numeric text (no DNS: the
/// fabric is addressed by IP, and a resolver lookup could hang). Shared by
/// rdma_cm here and the TCP bootstrap, each of which reports a bad address
/// with its own error.
public struct SocketAddress {
    public private(set) var storage = sockaddr_storage()
    public private(set) var length: socklen_t = 0

    /// nil when `host` is not a numeric IPv4 or IPv6 address (inet_pton).
    public init?(numericHost host: String, port: UInt16) {
        if host.contains(":") {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &a.sin6_addr) == 1 else { return nil }
            withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &a.sin_addr) == 1 else { return nil }
            withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
    }

    /// rdma_cm's parse: a bad address is `.invalidArgument`.
    init(host: String, port: UInt16) throws(VerbsError) {
        guard let address = SocketAddress(numericHost: host, port: port) else {
            throw VerbsError(.invalidArgument, function: "inet_pton", reason: "'\(host)' is not a numeric IPv4 or IPv6 address")
        }
        self = address
    }

    public mutating func withSockaddr<R>(_ body: (UnsafeMutablePointer<sockaddr>, socklen_t) -> R) -> R {
        let len = length
        return withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, len) }
        }
    }
}
