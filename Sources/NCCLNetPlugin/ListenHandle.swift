/// What `listen` writes into NCCL's handle and `connect` reads on the other
/// rank: where the rank's process-wide ``AuthenticatedListener`` waits
/// (``ProcessListener``) and which of its `listen`s this is (the route).
/// NCCL moves the handle between ranks over its bootstrap network,
/// unauthenticated, so nothing in it is trusted: a rewritten address or port
/// can only make the handshake fail or reach a peer that must then prove its
/// identity, and the route is checked again inside the handshake.
///
/// Layout (NCCL_NET_HANDLE_MAXSIZE = 128 bytes, net.h):
///
///     0..<4    magic "FAN1"
///     4        layout version (2; 1 had no route)
///     5        host length n (1...96)
///     6..<8    TCP port, big-endian
///     8..<16   setup ID: 0 as sent; the connecting rank's own progress
///              marker between calls (NCCL passes the same handle memory to
///              every retry of `connect`, as its IB transport relies on)
///     16..<32  route: 16 random bytes naming this `listen`
///     32..<32+n  host, UTF-8 (an IPv4/IPv6 literal or a name)
public struct ListenHandle: Equatable, Sendable {
    public static let size = 128
    static let magic: [UInt8] = Array("FAN1".utf8)
    static let version: UInt8 = 2
    static let setupIDOffset = 8
    static let routeOffset = 16
    public static let routeSize = 16
    static let hostOffset = 32
    public static let maxHostBytes = size - hostOffset

    public var host: String
    public var port: UInt16
    /// Which `listen` of the rank at `host:port` this handle names.
    public var route: [UInt8]

    public init(host: String, port: UInt16, route: [UInt8]) {
        precondition(route.count == Self.routeSize, "a route is \(Self.routeSize) bytes")
        self.host = host
        self.port = port
        self.route = route
    }

    /// A fresh random route (getrandom(2) through the system RNG).
    public static func randomRoute() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<routeSize).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    /// Writes the handle over all of `raw` (at least ``size`` bytes), setup ID 0.
    public func encode(into raw: UnsafeMutableRawBufferPointer) throws(HandleError) {
        let hostBytes = Array(host.utf8)
        guard raw.count >= Self.size else { throw .init("handle buffer holds \(raw.count) bytes, needs \(Self.size)") }
        guard (1...Self.maxHostBytes).contains(hostBytes.count) else {
            throw .init("listen address '\(host)' must be 1...\(Self.maxHostBytes) bytes")
        }
        for i in 0..<Self.size { raw[i] = 0 }
        for (i, b) in Self.magic.enumerated() { raw[i] = b }
        raw[4] = Self.version
        raw[5] = UInt8(hostBytes.count)
        raw[6] = UInt8(port >> 8)
        raw[7] = UInt8(port & 0xff)
        for (i, b) in route.enumerated() { raw[Self.routeOffset + i] = b }
        for (i, b) in hostBytes.enumerated() { raw[Self.hostOffset + i] = b }
    }

    /// Reads a handle a peer's `listen` wrote; throws on anything else.
    public static func decode(_ raw: UnsafeRawBufferPointer) throws(HandleError) -> ListenHandle {
        guard raw.count >= size else { throw .init("handle of \(raw.count) bytes, expected \(size)") }
        guard raw[0..<4].elementsEqual(magic) else {
            throw .init("not a FabricAuth handle (bad magic): is every rank using NCCL_NET_PLUGIN=fabricauth?")
        }
        guard raw[4] == version else { throw .init("handle layout \(raw[4]), this plug-in reads \(version): mixed plug-in versions") }
        let n = Int(raw[5])
        guard (1...maxHostBytes).contains(n) else { throw .init("handle host length \(n) outside 1...\(maxHostBytes)") }
        let port = UInt16(raw[6]) << 8 | UInt16(raw[7])
        guard port != 0 else { throw .init("handle names port 0") }
        guard let host = String(validating: raw[hostOffset..<(hostOffset + n)], as: UTF8.self) else {
            throw .init("handle host is not UTF-8")
        }
        return ListenHandle(host: host, port: port, route: Array(raw[routeOffset..<(routeOffset + routeSize)]))
    }

    /// The connecting rank's progress marker in a handle (0: not started).
    public static func setupID(in raw: UnsafeRawBufferPointer) -> UInt64 {
        raw.loadUnaligned(fromByteOffset: setupIDOffset, as: UInt64.self)
    }

    public static func setSetupID(_ id: UInt64, in raw: UnsafeMutableRawBufferPointer) {
        raw.storeBytes(of: id, toByteOffset: setupIDOffset, as: UInt64.self)
    }
}

/// A handle that is not one `listen` of this plug-in version wrote.
public struct HandleError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
