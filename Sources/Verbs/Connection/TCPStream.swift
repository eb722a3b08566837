#if canImport(Glibc)
import Glibc
#endif

/// A connected TCP socket with deadline-bounded exact reads and writes:
/// enough for the endpoint exchange, and nothing the data path touches.
final class TCPStream {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Connects to `host:port`, retrying refused connections until `timeout`
    /// (the listener may not be up yet — perftest's client retries too).
    static func connect(host: String, port: UInt16, timeout: Duration) throws(VerbsError) -> TCPStream {
        var addr = try SocketAddress(host: host, port: port)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let fd = socket(Int32(addr.storage.ss_family), Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw VerbsCall.failure("socket", errno: errno, code: .callFailed, reason: "", file: #fileID, line: #line) }
            let stream = TCPStream(fd: fd)
            let rc = addr.withSockaddr { sa, len in Glibc.connect(fd, sa, len) }
            if rc == 0 { return stream }
            let err = errno
            if (err == ECONNREFUSED || err == EINTR) && clock.now < deadline {
                usleep(20_000)
                continue
            }
            throw VerbsError(err == ECONNREFUSED ? .peerDisconnected : .callFailed, function: "connect", errno: err,
                reason: "\(host):\(port)")
        }
    }

    func writeAll(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(VerbsError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                let err = errno
                throw VerbsError(err == EPIPE || err == ECONNRESET ? .peerDisconnected : .callFailed,
                    function: "send", errno: err, reason: "tcp exchange")
            }
            sent += n
        }
    }

    func readExactly(_ count: Int, deadline: ContinuousClock.Instant) throws(VerbsError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        let clock = ContinuousClock()
        while got < count {
            let left = deadline - clock.now
            guard left > .zero, try FileDescriptorWait.readable(fd, timeout: left, function: "poll(tcp)") else {
                throw VerbsError(.timedOut, function: "recv", reason: "tcp exchange: \(got) of \(count) bytes before the deadline")
            }
            let n = out.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + got, count - got, 0) }
            if n == 0 {
                throw VerbsError(.peerDisconnected, function: "recv", reason: "tcp exchange: peer closed after \(got) of \(count) bytes")
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw VerbsError(.callFailed, function: "recv", errno: errno, reason: "tcp exchange")
            }
            got += n
        }
        return out
    }

    /// Sends `local`, then reads the peer's message.
    func exchange(_ local: ExchangeMessage, timeout: Duration) throws(VerbsError) -> ExchangeMessage {
        let deadline = ContinuousClock().now + timeout
        try writeAll(local.encoded, deadline: deadline)
        let header = try readExactly(ExchangeMessage.headerSize, deadline: deadline)
        let (endpoint, n) = try ExchangeMessage.parseHeader(header)
        let payload = n == 0 ? [] : try readExactly(n, deadline: deadline)
        return ExchangeMessage(endpoint: endpoint, payload: payload)
    }
}
