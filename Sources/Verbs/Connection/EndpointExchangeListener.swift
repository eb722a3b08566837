#if canImport(Glibc)
import Glibc
#endif

/// The server side of `EndpointExchange`: a listening TCP socket. Bind
/// first (port 0 picks a free port), tell the client the port, then
/// `exchange` accepts one client and swaps messages.
public final class EndpointExchangeListener: @unchecked Sendable {
    let fd: Int32
    public let port: UInt16

    public init(address: String = "0.0.0.0", port: UInt16 = 0) throws(VerbsError) {
        var addr = try SocketAddress(host: address, port: port)
        let fd = socket(Int32(addr.storage.ss_family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw VerbsCall.failure("socket", errno: errno, code: .callFailed, reason: "", file: #fileID, line: #line) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        do {
            try VerbsCall.check("bind", .minusOneSetsErrno, reason: "\(address):\(port)") {
                addr.withSockaddr { sa, len in bind(fd, sa, len) }
            }
            try VerbsCall.check("listen", .minusOneSetsErrno) { listen(fd, 4) }
        } catch {
            close(fd)
            throw error
        }
        var bound = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let netPort: UInt16 = withUnsafeBytes(of: bound) { raw in
            // sin_port and sin6_port sit at the same offset (2) in both layouts.
            raw.load(fromByteOffset: 2, as: UInt16.self)
        }
        self.fd = fd
        self.port = UInt16(bigEndian: netPort)
    }

    deinit { close(fd) }

    /// Accepts one client within `timeout`, reads its message, sends `local`.
    public func exchange(local: ExchangeMessage, timeout: Duration = .seconds(10)) throws(VerbsError) -> ExchangeMessage {
        guard try FileDescriptorWait.readable(fd, timeout: timeout, function: "poll(listen)") else {
            throw VerbsError(.timedOut, function: "accept", reason: "no exchange client within \(timeout)")
        }
        let client = accept(fd, nil, nil)
        guard client >= 0 else { throw VerbsCall.failure("accept", errno: errno, code: .callFailed, reason: "", file: #fileID, line: #line) }
        let stream = TCPStream(fd: client)
        return try stream.exchange(local, timeout: timeout)
    }
}
