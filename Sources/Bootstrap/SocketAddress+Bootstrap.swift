import Verbs

extension SocketAddress {
    /// The bootstrap's parse of Verbs' numeric socket address: a bad address is
    /// `.invalidAddress`.
    init(bootstrapHost host: String, port: UInt16) throws(BootstrapError) {
        guard let address = SocketAddress(numericHost: host, port: port) else {
            throw BootstrapError(.invalidAddress, function: "inet_pton", reason: "'\(host)' is not a numeric IPv4 or IPv6 address")
        }
        self = address
    }
}
