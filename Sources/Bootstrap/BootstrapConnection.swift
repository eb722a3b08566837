#if canImport(Glibc)
import Glibc
#endif
import Verbs

/// One TCP connection of the endpoint exchange, carrying every message of one
/// QP setup: the client's first message and the listener's answer, then the
/// barrier (both QPs reached RTS) in both directions.
///
/// The socket is non-blocking and every read and write is bounded by a
/// deadline, so a peer that goes silent costs a timeout, never a hung thread.
/// The data path never touches it.
public final class BootstrapConnection {
    let fd: Int32
    /// The peer's address as text ("192.0.2.7:40112"), for logs.
    public let peerAddress: String
    private var reader = MessageReader()

    init(fd: Int32, peerAddress: String) {
        self.fd = fd
        self.peerAddress = peerAddress
    }

    deinit { close(fd) }

    /// Connects to `host:port` within `timeout`, retrying refused connections
    /// until then (the listener may not be up yet, as perftest's client allows).
    public static func connect(host: String, port: UInt16, timeout: Duration) throws(BootstrapError) -> BootstrapConnection {
        var addr = try SocketAddress(bootstrapHost: host, port: port)
        let deadline = ContinuousClock.now + timeout
        while true {
            let fd = socket(Int32(addr.storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw BootstrapError.socket("socket", errno: errno) }
            let connection = BootstrapConnection(fd: fd, peerAddress: "\(host):\(port)")
            try SocketWait.setNonBlocking(fd)
            var err: Int32 = 0
            if addr.withSockaddr({ sa, len in Glibc.connect(fd, sa, len) }) == 0 {
                return connection
            }
            err = errno
            if err == EINPROGRESS || err == EINTR {
                // A remote SYN may go unanswered for minutes; wait only until the deadline.
                guard try SocketWait.until(deadline, fd: fd, events: Int32(POLLOUT), function: "poll(connect)") else {
                    throw BootstrapError(.timedOut, function: "connect", reason: "\(host):\(port): no answer within \(timeout)")
                }
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
                if err == 0 { return connection }
            }
            if err == ECONNREFUSED && ContinuousClock.now < deadline {
                usleep(20_000)
                continue
            }
            throw BootstrapError.socket("connect", errno: err, reason: "\(host):\(port)")
        }
    }

    /// Starts connecting to `host:port` without waiting; ``isConnected()``
    /// says when the TCP handshake has finished (the step-by-step form of
    /// ``connect(host:port:timeout:)``, for callers that must not block).
    public static func startConnecting(host: String, port: UInt16) throws(BootstrapError) -> BootstrapConnection {
        var addr = try SocketAddress(bootstrapHost: host, port: port)
        let fd = socket(Int32(addr.storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BootstrapError.socket("socket", errno: errno) }
        let connection = BootstrapConnection(fd: fd, peerAddress: "\(host):\(port)")
        try SocketWait.setNonBlocking(fd)
        if addr.withSockaddr({ sa, len in Glibc.connect(fd, sa, len) }) == 0 { return connection }
        let err = errno
        guard err == EINPROGRESS || err == EINTR else {
            throw BootstrapError.socket("connect", errno: err, reason: "\(host):\(port)")
        }
        return connection
    }

    /// Whether a connection from ``startConnecting(host:port:)`` is up, without
    /// waiting; throws the connect's error (ECONNREFUSED while nothing
    /// listens yet: the caller decides whether to start again).
    public func isConnected() throws(BootstrapError) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let rc = poll(&p, 1, 0)
        if rc < 0 {
            if errno == EINTR { return false }
            throw BootstrapError.socket("poll(connect)", errno: errno)
        }
        guard rc > 0 else { return false }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        guard err == 0 else { throw BootstrapError.socket("connect", errno: err, reason: peerAddress) }
        return true
    }

    /// Sends `message` whole before `deadline`.
    public func send(_ message: ExchangeMessage, deadline: ContinuousClock.Instant) throws(BootstrapError) {
        let bytes = message.encoded
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL)) }
            if n >= 0 {
                sent += n
                continue
            }
            let err = errno
            if err == EINTR { continue }
            guard err == EAGAIN || err == EWOULDBLOCK else {
                throw BootstrapError.socket("send", errno: err, reason: "after \(sent) of \(bytes.count) bytes")
            }
            guard try SocketWait.until(deadline, fd: fd, events: Int32(POLLOUT), function: "poll(send)") else {
                throw BootstrapError(.timedOut, function: "send", reason: "\(sent) of \(bytes.count) bytes before the deadline")
            }
        }
    }

    /// The peer's next message, which must arrive whole before `deadline`.
    public func receive(deadline: ContinuousClock.Instant) throws(BootstrapError) -> ExchangeMessage {
        while true {
            if let message = try reader.readAvailable(from: fd) { return message }
            guard try SocketWait.until(deadline, fd: fd, events: Int32(POLLIN), function: "poll(recv)") else {
                throw reader.deadlineError(function: "recv")
            }
        }
    }

    /// Sends `local`, then reads the peer's message, both within `timeout`
    /// (the client's order: the listener answers only a client that spoke).
    public func exchange(_ local: ExchangeMessage, timeout: Duration) throws(BootstrapError) -> ExchangeMessage {
        let deadline = ContinuousClock.now + timeout
        try send(local, deadline: deadline)
        return try receive(deadline: deadline)
    }

    /// Feeds what the socket holds to the message being assembled, without
    /// waiting (the listener's pre-authentication loop, a stepped setup);
    /// the message once it is whole.
    public func readAvailable() throws(BootstrapError) -> ExchangeMessage? {
        try reader.readAvailable(from: fd)
    }

    /// The error for a message that did not arrive whole before its deadline.
    public func deadlineError() -> BootstrapError { reader.deadlineError(function: "recv") }
}
