#if canImport(Glibc)
import Glibc
#endif

/// The out-of-band exchange of QP endpoints over plain TCP, as perftest
/// and rc_pingpong do without rdma_cm (-R): for hosts where rdma_cm is not
/// available. The server side is `EndpointExchangeListener`.
public enum EndpointExchange {
    /// Connects to a listener, sends `local`, returns the peer's message.
    public static func exchange(host: String, port: UInt16, local: ExchangeMessage, timeout: Duration = .seconds(10)) throws(VerbsError) -> ExchangeMessage {
        let stream = try TCPStream.connect(host: host, port: port, timeout: timeout)
        return try stream.exchange(local, timeout: timeout)
    }
}
