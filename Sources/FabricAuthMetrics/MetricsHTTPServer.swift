#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Synchronization

/// Serves `GET /metrics` (the registry's exposition, `Content-Type: text/plain;
/// version=0.0.4`) on one thread of its own; any other path is 404, any other
/// method 405.
///
/// It never touches a channel: a scrape reads the published telemetry under
/// the registry's lock, which the data path never takes. One request at a
/// time, each under a short deadline, which is plenty for a Prometheus
/// server scraping every few seconds; bind it to loopback or a management
/// address, it has no authentication.
public final class MetricsHTTPServer: Sendable {
    /// Where it listens (the port filled in when 0 was asked for).
    public let host: String
    public let port: UInt16

    private let registry: MetricsRegistry
    private let listener: Int32
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// Largest request head read; a scraper's is a few hundred bytes.
    static let maxRequestHead = 8192
    /// How long one client may take to send its request.
    static let requestDeadline: Duration = .seconds(5)

    /// Listens on `address` ("127.0.0.1:9464", "[::1]:9464"; port 0 picks a
    /// free one) and starts serving.
    public init(registry: MetricsRegistry, address: String) throws(MetricsError) {
        let (host, port) = try Self.split(address)
        self.registry = registry
        self.host = host
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let info = list else {
            throw MetricsError("--metrics-listen \(address): not a numeric address (\(String(cString: gai_strerror(rc))))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MetricsError("metrics socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MetricsError("--metrics-listen \(address): \(reason)")
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = withUnsafePointer(to: &bound) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        self.listener = fd
        let thread = Thread { [self] in serve() }
        thread.name = "fabricauth-metrics-http"
        thread.start()
    }

    /// Stops serving and closes the socket (waits for the thread, at most one poll interval).
    public func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
        close(listener)
    }

    deinit {
        if !stopping.load(ordering: .acquiring) { close(listener) }
    }

    private func serve() {
        defer { finished.signal() }
        while !stopping.load(ordering: .acquiring) {
            var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            // A short poll so `stop` is seen promptly.
            guard poll(&p, 1, 200) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            respond(client)
            close(client)
        }
    }

    private func respond(_ client: Int32) {
        guard let head = Self.readHead(client) else { return }
        let (status, body, type) = Self.route(head, registry: registry)
        var response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        if !head.hasPrefix("HEAD ") { response += body }
        Self.writeAll(client, response)
    }

    /// The status line, body and content type for a request head.
    static func route(_ head: String, registry: MetricsRegistry) -> (String, [UInt8], String) {
        // "\r\n" is one Character in Swift, and a newline.
        let requestLine = head.prefix { !$0.isNewline }.split(separator: " ")
        guard requestLine.count == 3 else { return ("400 Bad Request", Array("bad request\n".utf8), "text/plain") }
        let method = requestLine[0]
        // A query string (Prometheus' `params`) does not change the answer.
        let path = requestLine[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard path == "/metrics" else { return ("404 Not Found", Array("only /metrics is served here\n".utf8), "text/plain") }
        guard method == "GET" || method == "HEAD" else {
            return ("405 Method Not Allowed", Array("GET /metrics\n".utf8), "text/plain")
        }
        return ("200 OK", registry.expositionBytes(), MetricsRegistry.contentType)
    }

    /// Reads up to the blank line that ends the request head, under the deadline.
    private static func readHead(_ fd: Int32) -> String? {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        let deadline = ContinuousClock.now + requestDeadline
        while buffer.count < maxRequestHead {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            guard poll(&p, 1, ms) > 0 else { return nil }
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return nil }
            buffer += chunk[0..<n]
            if let text = String(validating: buffer, as: UTF8.self), text.contains("\r\n\r\n") || text.contains("\n\n") {
                return text
            }
        }
        return nil
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a scraper that hung up must not kill the process with SIGPIPE.
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return }
            offset += n
        }
    }

    /// "host:port" or "[v6]:port".
    static func split(_ address: String) throws(MetricsError) -> (String, UInt16) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw MetricsError("--metrics-listen \(address): expected HOST:PORT, e.g. 127.0.0.1:9464")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw MetricsError("--metrics-listen \(address): the host is missing (127.0.0.1:PORT)") }
        return (host, port)
    }
}

/// A metrics endpoint or file that could not be set up, said for an operator.
public struct MetricsError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
