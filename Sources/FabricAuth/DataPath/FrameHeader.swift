import Handshake
/// The 40-byte header in front of every payload, all fields big-endian
/// (network order). The whole header and the payload are authenticated; the
/// 16-byte tag follows the payload. See docs/protocol.md, "Data path".
///
///     offset size field
///      0      1   version         (1)
///      1      1   suite           (CipherSuite raw value)
///      2      1   opcode          (DataPathOpcode raw value)
///      3      1   direction       (Direction raw value)
///      4      4   epoch           (key epoch, < 2^24)
///      8      4   qpn             (destination QP number, < 2^24)
///     12      4   length          (payload bytes)
///     16      8   sequence        (message sequence within the epoch)
///     24      8   remoteAddress   (RDMA WRITE target address; 0 otherwise)
///     32      4   rkey            (RDMA WRITE rkey if bound, else 0)
///     36      4   reserved        (must be 0)
///     40      -   payload (length bytes), then the 16-byte tag
public struct FrameHeader: Sendable, Equatable {
    public var suite: CipherSuite
    public var opcode: DataPathOpcode
    public var direction: Direction
    public var epoch: UInt32
    public var qpn: UInt32
    public var length: UInt32
    public var sequence: UInt64
    public var remoteAddress: UInt64
    public var rkey: UInt32

    public init(
        suite: CipherSuite, opcode: DataPathOpcode, direction: Direction, epoch: UInt32,
        qpn: UInt32, length: UInt32, sequence: UInt64, remoteAddress: UInt64 = 0, rkey: UInt32 = 0
    ) {
        self.suite = suite
        self.opcode = opcode
        self.direction = direction
        self.epoch = epoch
        self.qpn = qpn
        self.length = length
        self.sequence = sequence
        self.remoteAddress = remoteAddress
        self.rkey = rkey
    }

    enum Offset {
        static let version = 0, suite = 1, opcode = 2, direction = 3, epoch = 4, qpn = 8
        static let length = 12, sequence = 16, remoteAddress = 24, rkey = 32, reserved = 36
    }

    /// Writes the 40 header bytes at `p` (unaligned stores are fine). Public
    /// for tools that build frames by hand (the demo's forged message).
    @inline(__always)
    public func encode(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: DataPathLimits.wireVersion, toByteOffset: Offset.version, as: UInt8.self)
        p.storeBytes(of: suite.rawValue, toByteOffset: Offset.suite, as: UInt8.self)
        p.storeBytes(of: opcode.rawValue, toByteOffset: Offset.opcode, as: UInt8.self)
        p.storeBytes(of: direction.rawValue, toByteOffset: Offset.direction, as: UInt8.self)
        p.storeBytes(of: epoch.bigEndian, toByteOffset: Offset.epoch, as: UInt32.self)
        p.storeBytes(of: qpn.bigEndian, toByteOffset: Offset.qpn, as: UInt32.self)
        p.storeBytes(of: length.bigEndian, toByteOffset: Offset.length, as: UInt32.self)
        p.storeBytes(of: sequence.bigEndian, toByteOffset: Offset.sequence, as: UInt64.self)
        p.storeBytes(of: remoteAddress.bigEndian, toByteOffset: Offset.remoteAddress, as: UInt64.self)
        p.storeBytes(of: rkey.bigEndian, toByteOffset: Offset.rkey, as: UInt32.self)
        p.storeBytes(of: UInt32(0), toByteOffset: Offset.reserved, as: UInt32.self)
    }

    /// Reads a header. nil when the version, suite, opcode or direction byte is
    /// unknown or the reserved word is nonzero. (The caller checks the suite,
    /// direction and QPN against its session.) The direction byte is decoded
    /// separately by the receiver so a reflected frame is reported as such.
    @inline(__always)
    static func decode(from p: UnsafeRawPointer) -> FrameHeader? {
        guard p.load(fromByteOffset: Offset.version, as: UInt8.self) == DataPathLimits.wireVersion,
            case let suite = CipherSuite(rawValue: p.load(fromByteOffset: Offset.suite, as: UInt8.self)), suite.isKnown,
            let opcode = DataPathOpcode(rawValue: p.load(fromByteOffset: Offset.opcode, as: UInt8.self)),
            p.loadUnaligned(fromByteOffset: Offset.reserved, as: UInt32.self) == 0
        else { return nil }
        let directionByte = p.load(fromByteOffset: Offset.direction, as: UInt8.self)
        // An unknown direction byte decodes as "not the expected direction" below;
        // keep the raw value's low bit only if it is a valid value.
        let direction = Direction(rawValue: directionByte) ?? .initiatorToResponder
        let header = FrameHeader(
            suite: suite,
            opcode: opcode,
            direction: direction,
            epoch: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Offset.epoch, as: UInt32.self)),
            qpn: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Offset.qpn, as: UInt32.self)),
            length: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Offset.length, as: UInt32.self)),
            sequence: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: Offset.sequence, as: UInt64.self)),
            remoteAddress: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: Offset.remoteAddress, as: UInt64.self)),
            rkey: UInt32(bigEndian: p.loadUnaligned(fromByteOffset: Offset.rkey, as: UInt32.self)))
        return header
    }

    /// The raw direction byte (the receiver compares it exactly).
    @inline(__always)
    static func directionByte(at p: UnsafeRawPointer) -> UInt8 {
        p.load(fromByteOffset: Offset.direction, as: UInt8.self)
    }
}
