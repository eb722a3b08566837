/// What a peer needs to connect to a QP: {QPN, PSN, GID, LID, MTU} — the
/// tuple rc_pingpong and perftest exchange over TCP, and the one an
/// authenticated handshake must protect (an attacker who rewrites it
/// redirects the connection).
public struct QueuePairEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// 24-bit QP number (IB spec 9.2: DestQP is 24 bits).
    public var queuePairNumber: UInt32
    /// 24-bit initial packet sequence number of this side's send queue.
    public var packetSequenceNumber: UInt32
    public var gid: Gid
    /// 0 on RoCE, the port LID on InfiniBand.
    public var lid: UInt16
    /// The active MTU of the port; the connection uses the smaller of both sides.
    public var mtu: Mtu

    public init(queuePairNumber: UInt32, packetSequenceNumber: UInt32, gid: Gid, lid: UInt16, mtu: Mtu) {
        precondition(queuePairNumber <= 0xFF_FFFF && packetSequenceNumber <= 0xFF_FFFF, "QPN and PSN are 24-bit")
        self.queuePairNumber = queuePairNumber
        self.packetSequenceNumber = packetSequenceNumber
        self.gid = gid
        self.lid = lid
        self.mtu = mtu
    }

    /// Size of `encoded`.
    public static let encodedSize = 28

    /// Fixed 28-byte big-endian form: QPN(4) PSN(4) LID(2) MTU(1) reserved(1) GID(16).
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.encodedSize)
        withUnsafeBytes(of: queuePairNumber.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: packetSequenceNumber.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: lid.bigEndian) { out.append(contentsOf: $0) }
        out.append(UInt8(mtu.rawValue))
        out.append(0)
        for i in 0..<16 { out.append(gid.bytes[i]) }
        return out
    }

    /// Parses `encoded`; nil on a wrong length, out-of-range QPN/PSN or unknown MTU.
    public init?(encoded bytes: some Collection<UInt8>) {
        let b = Array(bytes)
        guard b.count == Self.encodedSize else { return nil }
        let qpn = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
        let psn = UInt32(b[4]) << 24 | UInt32(b[5]) << 16 | UInt32(b[6]) << 8 | UInt32(b[7])
        let lid = UInt16(b[8]) << 8 | UInt16(b[9])
        guard qpn <= 0xFF_FFFF, psn <= 0xFF_FFFF, let mtu = Mtu(rawValue: UInt32(b[10])), b[11] == 0,
            let gid = Gid(bytes: Array(b[12..<28]))
        else { return nil }
        self.init(queuePairNumber: qpn, packetSequenceNumber: psn, gid: gid, lid: lid, mtu: mtu)
    }

    public var description: String {
        "QPN 0x\(String(queuePairNumber, radix: 16)) PSN 0x\(String(packetSequenceNumber, radix: 16)) GID \(gid) LID \(lid) MTU \(mtu)"
    }
}
