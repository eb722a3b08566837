/// One end of a queue pair, as the handshake binds it (docs/protocol.md, "Channel binding").
///
/// Both ends put their own endpoint in the clear part of their first message and
/// compare the peer's against the one they expect (learned out of band, e.g. from
/// rdma_cm). Both endpoints are hashed into the transcript that both signatures and
/// every derived key depend on, so a handshake (or its keys) for one QP cannot be
/// replayed onto another, and a man in the middle cannot splice two QPs together
/// (ReDMArk's QPN/PSN prediction and injection attacks).
public struct ChannelBinding: Sendable, Hashable, CustomStringConvertible {
    public enum Role: UInt8, Sendable {
        case initiator = 1
        case responder = 2
    }

    public var role: Role
    /// Queue pair number (24 bits on the wire of IB/RoCE).
    public var qpn: UInt32
    /// Initial packet sequence number (24 bits).
    public var psn: UInt32
    /// Port GID, 16 bytes (an IPv6 address for RoCE v2).
    public var gid: [UInt8]
    /// Path MTU in bytes (256 ... 4096).
    public var mtu: UInt32

    /// Size on the wire: role, qpn, psn, gid, mtu.
    public static let encodedSize = 1 + 4 + 4 + 16 + 4

    /// Traps on values that cannot exist (programmer error): qpn/psn over 24 bits, gid not 16 bytes.
    public init(role: Role, qpn: UInt32, psn: UInt32, gid: [UInt8], mtu: UInt32) {
        precondition(qpn <= 0xFF_FFFF, "QPN is 24 bits")
        precondition(psn <= 0xFF_FFFF, "PSN is 24 bits")
        precondition(gid.count == 16, "GID is 16 bytes")
        self.role = role
        self.qpn = qpn
        self.psn = psn
        self.gid = gid
        self.mtu = mtu
    }

    func encode(into w: inout WireWriter) {
        w.u8(role.rawValue)
        w.u32(qpn)
        w.u32(psn)
        w.bytes(gid)
        w.u32(mtu)
    }

    static func decode(from r: inout WireReader) throws(HandshakeError) -> ChannelBinding {
        let roleByte = try r.u8()
        let qpn = try r.u32()
        let psn = try r.u32()
        let gid = try r.bytes(16)
        let mtu = try r.u32()
        guard let role = Role(rawValue: roleByte) else { throw HandshakeError(.malformed, "binding role \(roleByte)") }
        guard qpn <= 0xFF_FFFF, psn <= 0xFF_FFFF else { throw HandshakeError(.malformed, "QPN/PSN over 24 bits") }
        return ChannelBinding(role: role, qpn: qpn, psn: psn, gid: gid, mtu: mtu)
    }

    public var description: String {
        let g = gid.map { String($0, radix: 16) }.joined(separator: ":")
        return "\(role) qpn=\(qpn) psn=\(psn) gid=\(g) mtu=\(mtu)"
    }
}
