#if canImport(Glibc)
import Glibc
#endif
import Verbs

/// The server side of the endpoint exchange: a listening TCP socket that
/// screens connections before anyone spends a queue pair on them.
///
/// Any host that can reach the port can connect, so until a client has sent a
/// well-formed first message with its token the listener treats it as a
/// stranger (issue 12, item 4):
/// - it answers nothing, so no endpoint (QPN, PSN, GID) is disclosed to a
///   connection that has not spoken the protocol;
/// - it reads every pending connection in one poll loop, each under its own
///   short deadline, so an idle or slow connection delays no other client;
/// - it holds at most `maxPendingConnections`; a connection beyond that is
///   closed at once;
/// - every connection it closes is refused with a specific `BootstrapError`
///   code, counted in ``metrics`` and logged once; none of them ends
///   ``nextClient(timeout:)``, which returns only a client that passed.
///
/// Bind first (port 0 picks a free port), tell clients the port, then call
/// `nextClient` for each setup. Several threads may call it at once: one
/// screens while the others run the setups of clients they were handed, so a
/// client that passes the screening and then stalls holds one thread, not the
/// listener.
public final class EndpointExchangeListener: @unchecked Sendable {
    /// Limits on connections that have not yet spoken.
    public struct Configuration: Sendable {
        /// How long a new connection may take to send its whole first message.
        /// A client sends it right after connecting, so a few seconds cover a
        /// loaded host while a scanner holds a slot only briefly.
        public var firstMessageTimeout: Duration = .seconds(3)
        /// Connections accepted and not yet handed over, at most. Bounds the
        /// descriptors and buffers strangers can hold (each buffers at most
        /// one message: 34 + 1024 bytes).
        public var maxPendingConnections = 64
        /// Bytes of random token a client's first payload must start with
        /// (FabricAuth's connector sends `ExchangeMessage.clientTokenSize`);
        /// 0 accepts any payload, for plain perftest-style exchanges.
        public var clientTokenSize = ExchangeMessage.clientTokenSize
        /// Where each refused connection is reported (one line each).
        public var log: (@Sendable (String) -> Void)?
        /// Told of each refused connection: the reason and the peer's
        /// address (FabricAuth's audit trail counts them, rate-limited).
        public var onRefused: (@Sendable (BootstrapError.Code, String) -> Void)?

        public init() {}
    }

    let fd: Int32
    /// The TCP port clients connect to (the one picked when `port` was 0).
    public let port: UInt16
    /// The limits it was created with.
    public let configuration: Configuration
    /// Accepted, handed over and refused connections, by reason.
    public let metrics = BootstrapMetrics()
    /// Held by the thread that screens; guards `pending` and `acceptPausedUntil`.
    private let screening = ScreeningLock()
    /// Connections accepted and not handed over yet, oldest first.
    private var pending: [PendingConnection] = []
    /// Set when the process ran out of descriptors or memory for accept(2):
    /// the listening socket stays readable meanwhile, so polling it would spin.
    private var acceptPausedUntil: ContinuousClock.Instant?

    /// Connections waiting for `nextClient` (for tests and monitoring); waits
    /// for a screening in progress to end.
    public var pendingConnections: Int {
        _ = screening.lock(until: .now + .seconds(3600))
        defer { screening.unlock() }
        return pending.count
    }

    /// Binds and listens on `address:port` (numeric IPv4 or IPv6; port 0 picks a free one).
    public init(address: String = "0.0.0.0", port: UInt16 = 0, configuration: Configuration = Configuration())
        throws(BootstrapError)
    {
        precondition(configuration.maxPendingConnections > 0, "a listener must hold at least one pending connection")
        precondition((0...ExchangeMessage.maxPayload).contains(configuration.clientTokenSize))
        var addr = try SocketAddress(bootstrapHost: address, port: port)
        let fd = socket(Int32(addr.storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BootstrapError.socket("socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        // The kernel queues completed connections while the caller is busy
        // with a setup (the handshake takes a few round trips); a short
        // backlog would drop a client's SYN behind a handful of scanners.
        let backlog = Int32(clamping: max(128, configuration.maxPendingConnections))
        guard addr.withSockaddr({ sa, len in bind(fd, sa, len) }) == 0 else {
            let err = errno
            close(fd)
            throw BootstrapError.socket("bind", errno: err, reason: "\(address):\(port)")
        }
        guard listen(fd, backlog) == 0 else {
            let err = errno
            close(fd)
            throw BootstrapError.socket("listen", errno: err)
        }
        do throws(BootstrapError) { try SocketWait.setNonBlocking(fd) } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.port = Self.boundPort(fd)
        self.configuration = configuration
    }

    deinit { close(fd) }

    /// Waits up to `timeout` for a client whose first message is well formed
    /// and carries a token, meanwhile refusing every connection that is not
    /// (each counted in ``metrics``). The caller answers through
    /// `client.connection`. Throws `.acceptTimedOut` when no client passed in
    /// time, or a socket error of the listening socket itself.
    public func nextClient(timeout: Duration) throws(BootstrapError) -> BootstrapClient {
        let deadline = ContinuousClock.now + timeout
        guard screening.lock(until: deadline) else {
            throw BootstrapError(.acceptTimedOut, function: "accept", reason: "another thread screened for all of \(timeout)")
        }
        defer { screening.unlock() }
        while true {
            if let i = pending.firstIndex(where: { $0.firstMessage != nil }) {
                let passed = pending.remove(at: i)
                metrics.recordHandedOver()
                return BootstrapClient(connection: passed.connection, firstMessage: passed.firstMessage!)
            }
            let now = ContinuousClock.now
            // Read before expiring: bytes that arrived while the caller was
            // busy with another setup count as in time.
            let ready = try waitForActivity(until: min(deadline, pending.map(\.deadline).min() ?? deadline))
            if ready.listener { try acceptWaiting() }
            for i in pending.indices where ready.connections.contains(pending[i].connection.fd) {
                pending[i].step(configuration)
            }
            for i in pending.indices where pending[i].failure == nil && pending[i].firstMessage == nil
                && pending[i].deadline <= ContinuousClock.now
            {
                pending[i].failure = pending[i].connection.deadlineError()
            }
            pending.removeAll { p in
                guard let failure = p.failure else { return false }
                refuse(p.connection, failure)
                return true
            }
            if pending.contains(where: { $0.firstMessage != nil }) { continue }
            if now >= deadline || ContinuousClock.now >= deadline {
                throw BootstrapError(.acceptTimedOut, function: "accept", reason: "no client sent a first message within \(timeout)")
            }
        }
    }

    /// The one-shot server side of `EndpointExchange.exchange`: the next
    /// client's first message, answered with `local`.
    public func exchange(local: ExchangeMessage, timeout: Duration = .seconds(10)) throws(BootstrapError) -> ExchangeMessage {
        let client = try nextClient(timeout: timeout)
        try client.connection.send(local, deadline: ContinuousClock.now + timeout)
        return client.firstMessage
    }

    // MARK: The loop's steps

    /// Polls the listening socket and every pending connection until one has
    /// something or `until` passes.
    private func waitForActivity(until: ContinuousClock.Instant) throws(BootstrapError) -> (listener: Bool, connections: Set<Int32>) {
        if let paused = acceptPausedUntil, paused <= ContinuousClock.now { acceptPausedUntil = nil }
        // A paused listening socket is polled for nothing (events 0) so the
        // indices stay the same; its pause ends the wait.
        let listenerEvents = acceptPausedUntil == nil ? Int16(POLLIN) : 0
        let until = acceptPausedUntil.map { min($0, until) } ?? until
        var fds = [pollfd(fd: fd, events: listenerEvents, revents: 0)]
        for p in pending { fds.append(pollfd(fd: p.connection.fd, events: Int16(POLLIN), revents: 0)) }
        while true {
            let rc = poll(&fds, nfds_t(fds.count), SocketWait.milliseconds(until: until))
            if rc >= 0 { break }
            if errno == EINTR { continue }
            throw BootstrapError.socket("poll(listen)", errno: errno)
        }
        // POLLHUP and POLLERR count as activity: the read that follows reports them.
        let active = Set(fds.dropFirst().filter { $0.revents != 0 }.map(\.fd))
        return (fds[0].revents & Int16(POLLIN) != 0, active)
    }

    /// Accepts every connection the kernel has queued; those beyond the bound
    /// are closed at once.
    private func acceptWaiting() throws(BootstrapError) {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    // accept4(2) is not in Glibc's Swift overlay (_GNU_SOURCE); fcntl below does its job.
                    accept(fd, $0, &length)
                }
            }
            if client < 0 {
                let err = errno
                // ECONNABORTED: the client reset while queued; nothing to refuse.
                if err == EINTR || err == ECONNABORTED { continue }
                if err == EAGAIN || err == EWOULDBLOCK { return }
                if err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM {
                    // Clients stay queued in the kernel; try again shortly
                    // rather than fail the caller's wait or spin.
                    acceptPausedUntil = ContinuousClock.now + .milliseconds(100)
                    configuration.log?("bootstrap: accept paused for 100 ms: \(String(cString: strerror(err)))")
                    return
                }
                throw BootstrapError.socket("accept", errno: err)
            }
            metrics.recordAccepted()
            let connection = BootstrapConnection(fd: client, peerAddress: Self.describe(address))
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            do throws(BootstrapError) { try SocketWait.setNonBlocking(client) } catch {
                refuse(connection, error)  // a blocking socket could stall the loop
                continue
            }
            guard pending.count < configuration.maxPendingConnections else {
                refuse(connection, BootstrapError(.tooManyPending, function: "accept",
                    reason: "\(pending.count) connections already waiting to speak (limit \(configuration.maxPendingConnections))"))
                continue
            }
            var entry = PendingConnection(connection: connection,
                deadline: ContinuousClock.now + configuration.firstMessageTimeout)
            // Its first message may already be queued (it arrived while the
            // caller was busy): read it now rather than after another poll.
            entry.step(configuration)
            pending.append(entry)
        }
    }

    private func refuse(_ connection: BootstrapConnection, _ error: BootstrapError) {
        metrics.recordRefused(error.code)
        configuration.onRefused?(error.code, connection.peerAddress)
        configuration.log?("bootstrap: refused \(connection.peerAddress): \(error.code): \(error.reason)")
        // The connection closes when the last reference goes (deinit).
    }

    // MARK: Addresses

    private static func boundPort(_ fd: Int32) -> UInt16 {
        var bound = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        // sin_port and sin6_port sit at the same offset (2) in both layouts.
        let netPort = withUnsafeBytes(of: bound) { raw in raw.load(fromByteOffset: 2, as: UInt16.self) }
        return UInt16(bigEndian: netPort)
    }

    /// "a.b.c.d:port" or "[v6]:port", for logs.
    static func describe(_ address: sockaddr_storage) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var storage = address
        let netPort = withUnsafeBytes(of: storage) { raw in raw.load(fromByteOffset: 2, as: UInt16.self) }
        let port = UInt16(bigEndian: netPort)
        if Int32(storage.ss_family) == AF_INET6 {
            withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { _ = inet_ntop(AF_INET6, &$0.pointee.sin6_addr, &text, socklen_t(text.count)) }
            }
            return "[\(Self.text(text))]:\(port)"
        }
        withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { _ = inet_ntop(AF_INET, &$0.pointee.sin_addr, &text, socklen_t(text.count)) }
        }
        return "\(Self.text(text)):\(port)"
    }

    private static func text(_ cString: [CChar]) -> String {
        String(decoding: cString.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A client that passed the listener's checks: its connection, to answer on
/// and to carry the barrier, and its first message.
public struct BootstrapClient {
    /// The client's connection: answer it, then read and answer the barrier.
    public let connection: BootstrapConnection
    /// Well formed, and its payload starts with the client's token.
    public let firstMessage: ExchangeMessage
}

/// One accepted connection that has not been handed over yet.
struct PendingConnection {
    let connection: BootstrapConnection
    /// When it must have sent its whole first message.
    let deadline: ContinuousClock.Instant
    var firstMessage: ExchangeMessage?
    var failure: BootstrapError?

    /// Reads what has arrived; records the first message once whole and
    /// checked, or why the connection is refused.
    mutating func step(_ configuration: EndpointExchangeListener.Configuration) {
        guard firstMessage == nil, failure == nil else { return }
        do throws(BootstrapError) {
            guard let message = try connection.readAvailable() else { return }
            guard message.payload.count >= configuration.clientTokenSize else {
                throw BootstrapError(.missingClientToken, function: "first message",
                    reason: "payload of \(message.payload.count) bytes, the token alone is \(configuration.clientTokenSize)")
            }
            firstMessage = message
        } catch {
            failure = error
        }
    }
}
