#if canImport(Glibc)
import Glibc
#endif
import CRDMACM

/// A passive rdma_cm endpoint: binds an IP address and port
/// (`rdma_bind_addr`, `rdma_listen`) and hands out connect requests.
public final class ConnectionListener: @unchecked Sendable {
    let identifier: ConnectionIdentifier
    /// The bound port (useful after binding port 0).
    public let port: UInt16

    public init(address: String, port: UInt16 = 0, backlog: Int32 = 16) throws(VerbsError) {
        identifier = try ConnectionIdentifier()
        var addr = try SocketAddress(host: address, port: port)
        let id = identifier.pointer
        try VerbsCall.check("rdma_bind_addr", .minusOneSetsErrno, reason: "\(address):\(port)") {
            addr.withSockaddr { sa, _ in rdma_bind_addr(id, sa) }
        }
        try VerbsCall.check("rdma_listen", .minusOneSetsErrno) { rdma_listen(id, backlog) }
        self.port = UInt16(bigEndian: rdma_get_src_port(id))
    }

    /// The next connect request if one arrives within `timeout`, nil otherwise
    /// (other events on the listening identifier are skipped). Lets a caller
    /// poll in short slices and do other work between them.
    public func pollRequest(timeout: Duration) throws(VerbsError) -> IncomingConnection? {
        do { return try nextRequest(timeout: timeout) } catch where error.code == .timedOut && error.function == "rdma_get_cm_event" {
            return nil
        }
    }

    /// Waits for the next connect request.
    public func nextRequest(timeout: Duration = .seconds(10)) throws(VerbsError) -> IncomingConnection {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let left = deadline - clock.now
            guard left > .zero, let (event, newId) = try identifier.channel.next(timeout: left) else {
                throw VerbsError(.timedOut, function: "rdma_get_cm_event", reason: "no connect request within \(timeout)")
            }
            guard event.kind == .connectRequest, let newId else { continue }
            return IncomingConnection(identifier: try ConnectionIdentifier(adopting: newId), privateData: event.privateData)
        }
    }
}
