/// The control messages of the RDMA WRITE/READ rendezvous. Each travels as
/// the payload of an ordinary sealed SEND frame whose header opcode says
/// which it is, so it is authenticated, replay-protected and counted like
/// any message before it is parsed here. Fixed sizes, big-endian, reserved
/// fields must be zero; anything else is a protocol violation by an
/// authenticated peer (docs/protocol.md "RDMA WRITE and READ").
enum ControlMessage {
    /// Receiver -> sender: "write up to `capacity` bytes with `tag` into this window".
    ///
    ///     0 index u32 | 4 generation u32 | 8 tag u32 | 12 rkey u32 |
    ///     16 address u64 | 24 capacity u32 | 28 reserved u32
    struct WriteGrant: Equatable {
        static let size = 32
        var index: UInt32
        var generation: UInt32
        var tag: UInt32
        var rkey: UInt32
        var address: UInt64
        var capacity: UInt32
    }

    /// Owner -> reader: "read this window with `tag`"; the data's detached
    /// header (address, rkey, length, epoch, sequence) and tag follow.
    ///
    ///     0 index u32 | 4 generation u32 | 8 tag u32 | 12 reserved u32 |
    ///     16 data header (40 bytes) | 56 data tag (16 bytes)
    struct ReadOffer {
        static let size = 16 + DataPathLimits.frameOverhead
        static let dataOffset = 16
        var index: UInt32
        var generation: UInt32
        var tag: UInt32
    }

    /// Reader -> owner: "done reading offer (index, generation)".
    ///
    ///     0 index u32 | 4 generation u32 | 8 reserved u64
    struct ReadDone: Equatable {
        static let size = 16
        var index: UInt32
        var generation: UInt32
    }
}

extension ControlMessage.WriteGrant {
    func encode(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: index.bigEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: generation.bigEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: tag.bigEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: rkey.bigEndian, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: address.bigEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: capacity.bigEndian, toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: UInt32(0), toByteOffset: 28, as: UInt32.self)
    }

    init?(_ b: UnsafeRawBufferPointer) {
        guard b.count == Self.size, b.loadUnaligned(fromByteOffset: 28, as: UInt32.self) == 0 else { return nil }
        index = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        generation = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        tag = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        rkey = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        address = UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        capacity = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        // A window of no bytes is never granted (irecv needs at least one).
        guard capacity > 0 else { return nil }
    }
}

extension ControlMessage.ReadOffer {
    /// Writes the 16-byte prefix; the caller seals the data header and tag
    /// straight into `p + dataOffset`.
    func encodePrefix(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: index.bigEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: generation.bigEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: tag.bigEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: UInt32(0), toByteOffset: 12, as: UInt32.self)
    }

    /// Parses the prefix and checks that the data header is a READ header
    /// (its MAC is checked later, over the bytes the READ fetched).
    init?(_ b: UnsafeRawBufferPointer) {
        guard b.count == Self.size, b.loadUnaligned(fromByteOffset: 12, as: UInt32.self) == 0,
            b[Self.dataOffset + FrameHeader.Offset.opcode] == DataPathOpcode.rdmaRead.rawValue
        else { return nil }
        index = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        generation = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        tag = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }
}

extension ControlMessage.ReadDone {
    func encode(to p: UnsafeMutableRawPointer) {
        p.storeBytes(of: index.bigEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: generation.bigEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: UInt64(0), toByteOffset: 8, as: UInt64.self)
    }

    init?(_ b: UnsafeRawBufferPointer) {
        guard b.count == Self.size, b.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == 0 else { return nil }
        index = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        generation = UInt32(bigEndian: b.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    }
}
