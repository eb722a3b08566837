#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The bench's TCP control connection (perftest keeps one too, for its
/// endpoint exchange and the barriers between sizes). One text line per
/// message, "VERB payload":
///
///     HELLO {BenchParameters}      client -> server, first
///     OK | ERROR text              server -> client
///     PLAIN {PlainSetup}           both ways: QP endpoints and the target buffer
///     AUTHPORT port                server -> client: where the authenticated listener is
///     READY                        both ways, once QPs are connected (a barrier)
///     END count {result}           client -> server after each size and mode
///     NEXT                         server -> client: served `count`, go on
///     STOP reason                  either way: Ctrl-C or a failure; the other side ends too
///
/// Bootstrap's `EndpointExchange` carries QP endpoints only, so it cannot
/// carry the barriers and the STOP that let one side end the other cleanly.
/// Never touched per message: the hot loops only poll it between batches.
final class BenchControl {
    private let fd: Int32
    private var pending: [UInt8] = []

    private init(fd: Int32) { self.fd = fd }
    deinit { Glibc.close(fd) }

    /// A listening socket on `port` (all addresses, like perftest's server).
    static func listen(port: UInt16) throws(BenchError) -> Int32 {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .system("socket", errno) }
        var one: Int32 = 1
        var zero: Int32 = 0
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        // Dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d.
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = port.bigEndian
        address.sin6_addr = in6addr_any
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        // Clients wait in the kernel's queue while one bench runs (a bench
        // server serves one at a time, as perftest's).
        guard bound == 0, Glibc.listen(fd, 16) == 0 else {
            let err = errno
            Glibc.close(fd)
            throw .setup("cannot listen on TCP port \(port): \(String(cString: strerror(err)))"
                + (err == EADDRINUSE ? " (another bench or perftest server? pick another with -p)" : ""))
        }
        // Non-blocking, so an accept after poll never blocks on a client that
        // vanished in between (accepted sockets do not inherit this on Linux).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    /// Waits for one client on `listener`, forever unless interrupted
    /// (perftest's server waits without limit too).
    static func accept(listener: Int32, stop: BenchStop) throws(BenchError) -> BenchControl {
        while true {
            try stop.checkInterrupted()
            if try readable(listener, milliseconds: 100) {
                let fd = Glibc.accept(listener, nil, nil)
                if fd >= 0 { return BenchControl(fd: fd) }
                // A client that reset while queued (ECONNABORTED), or was
                // gone by the time of the call (EAGAIN: the listening socket
                // is non-blocking), ends nothing: wait for the next one.
                let err = errno
                if err != EINTR && err != ECONNABORTED && err != EAGAIN { throw .system("accept", err) }
            }
        }
    }

    /// Connects to `host:port`, retrying a refused connection for `timeout`
    /// (the server may still be starting, as perftest's client allows).
    static func connect(host: String, port: UInt16, timeout: Duration, stop: BenchStop) throws(BenchError) -> BenchControl {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw .setup("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(list) }
        let deadline = ContinuousClock.now + timeout
        var lastError: Int32 = 0
        while ContinuousClock.now < deadline {
            try stop.checkInterrupted()
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let e = entry {
                let fd = socket(e.pointee.ai_family, e.pointee.ai_socktype, e.pointee.ai_protocol)
                if fd >= 0 {
                    if Glibc.connect(fd, e.pointee.ai_addr, e.pointee.ai_addrlen) == 0 { return BenchControl(fd: fd) }
                    lastError = errno
                    Glibc.close(fd)
                }
                entry = e.pointee.ai_next
            }
            usleep(100_000)
        }
        throw .setup("no bench server at \(host):\(port) after \(timeout): \(String(cString: strerror(lastError)))"
            + " (start `fabricauth bench TEST` there first)")
    }

    func send(_ line: String) throws(BenchError) {
        let bytes = Array((line + "\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .peerGone("the control connection broke (\(String(cString: strerror(errno)))): the peer has gone")
            }
            sent += n
        }
    }

    /// Best effort, for the way out (Ctrl-C, failures): never throws.
    func tell(_ line: String) { try? send(line) }

    /// The next line, waiting up to `timeout` (checking for Ctrl-C meanwhile).
    func receiveLine(timeout: Duration, stop: BenchStop, waitingFor what: String) throws(BenchError) -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let line = try pollLine() {
                if line == "ALIVE" { continue }  // the peer's heartbeat (BenchGuard)
                return try Self.checkStop(line)
            }
            try stop.checkInterrupted()
            if ContinuousClock.now >= deadline {
                throw .stalled("no word from the peer for \(timeout) while waiting for \(what)")
            }
            _ = try Self.readable(fd, milliseconds: 100)
        }
    }

    /// A line that `expecting` names, e.g. "READY"; anything else is a protocol error.
    func expect(_ verb: String, timeout: Duration, stop: BenchStop) throws(BenchError) -> String {
        let line = try receiveLine(timeout: timeout, stop: stop, waitingFor: verb)
        if line.hasPrefix("ERROR ") { throw .peer(String(line.dropFirst(6))) }
        guard line == verb || line.hasPrefix(verb + " ") else {
            throw .protocolError("expected \(verb) from the peer, got \"\(line.prefix(80))\"")
        }
        return line == verb ? "" : String(line.dropFirst(verb.count + 1))
    }

    /// A complete line if one has arrived, without waiting. Throws when the
    /// peer closed the connection (its process ended or was killed).
    func pollLine() throws(BenchError) -> String? {
        if let line = takeLine() { return line }
        guard try Self.readable(fd, milliseconds: 0) else { return nil }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n == 0 { throw .peerGone("the peer closed the control connection (its process ended)") }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return nil }
            throw .peerGone("the control connection broke (\(String(cString: strerror(errno)))): the peer has gone")
        }
        pending.append(contentsOf: chunk[0..<n])
        if let line = takeLine() { return line }
        guard pending.count <= BenchLimits.controlLine else {
            throw .protocolError("\(pending.count) bytes without a newline: not a bench client")
        }
        return nil
    }

    private func takeLine() -> String? {
        guard let newline = pending.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        let line = String(decoding: pending[0..<newline], as: UTF8.self)
        pending.removeSubrange(0...newline)
        return line
    }

    /// A STOP from the peer ends this side with the peer's reason.
    static func checkStop(_ line: String) throws(BenchError) -> String {
        if line.hasPrefix("STOP") { throw .peerStopped(String(line.dropFirst(5))) }
        return line
    }

    static func readable(_ fd: Int32, milliseconds: Int32) throws(BenchError) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, milliseconds)
        if n < 0 {
            if errno == EINTR { return false }
            throw .system("poll", errno)
        }
        return n > 0
    }

    /// The raw descriptor, for the Ctrl-C watchdog's last word.
    var fileDescriptor: Int32 { fd }
}
