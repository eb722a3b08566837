#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs

/// A 128-bit Global Identifier (IB spec 4.1.1). On RoCE the GID is an IPv6
/// address, and an IPv4 address appears IPv4-mapped (`::ffff:a.b.c.d`).
public struct Gid: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes in network order.
    public var bytes: InlineArray<16, UInt8>

    public init(bytes: InlineArray<16, UInt8>) { self.bytes = bytes }

    public init?(bytes array: [UInt8]) {
        guard array.count == 16 else { return nil }
        var b = InlineArray<16, UInt8>(repeating: 0)
        for i in 0..<16 { b[i] = array[i] }
        self.bytes = b
    }

    /// Parses the textual IPv6 form ("fe80::1", "::ffff:192.0.2.1") or the
    /// colon-separated 8×16-bit form sysfs prints ("0000:0000:...:c000:0201").
    public init?(_ text: String) {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, text, &addr) == 1 else { return nil }
        var b = InlineArray<16, UInt8>(repeating: 0)
        withUnsafeBytes(of: &addr) { raw in for i in 0..<16 { b[i] = raw[i] } }
        self.bytes = b
    }

    init(_ gid: ibv_gid) {
        var g = gid
        var b = InlineArray<16, UInt8>(repeating: 0)
        withUnsafeBytes(of: &g) { raw in for i in 0..<16 { b[i] = raw[i] } }
        self.bytes = b
    }

    var ibv: ibv_gid {
        var g = ibv_gid()
        withUnsafeMutableBytes(of: &g) { raw in for i in 0..<16 { raw[i] = bytes[i] } }
        return g
    }

    public static let zero = Gid(bytes: InlineArray(repeating: 0))

    public var isZero: Bool { (0..<16).allSatisfy { bytes[$0] == 0 } }

    /// `::ffff:a.b.c.d` (RFC 4291 2.5.5.2): the GID rdma_cm and RoCE v2 use for IPv4.
    public var isIPv4Mapped: Bool {
        (0..<10).allSatisfy { bytes[$0] == 0 } && bytes[10] == 0xff && bytes[11] == 0xff
    }

    /// The IPv4 address of an IPv4-mapped GID, dotted.
    public var ipv4: String? {
        guard isIPv4Mapped else { return nil }
        return "\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15])"
    }

    public static func == (a: Gid, b: Gid) -> Bool { (0..<16).allSatisfy { a.bytes[$0] == b.bytes[$0] } }
    public func hash(into hasher: inout Hasher) { for i in 0..<16 { hasher.combine(bytes[i]) } }

    /// The canonical IPv6 text (inet_ntop), as `ibv_devinfo -v` and `show_gids` print.
    public var description: String {
        var addr = in6_addr()
        withUnsafeMutableBytes(of: &addr) { raw in for i in 0..<16 { raw[i] = bytes[i] } }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
