import Handshake

/// The fragments of one re-authentication message (docs/protocol.md section
/// 14.2): a message travels as one or more opcode-8 frames, each payload a
/// flags byte and the next piece of the message. A2 and A3 carry certificate
/// chains of a few KiB while a channel's slots may hold under a hundred
/// payload bytes (NCCL's plug-in sizes them for control messages), and a
/// frame can never exceed the peer's receive slot.
///
/// Every fragment has already passed the data path (QPN, direction, epoch,
/// sequence, replay window, tag), and RC delivers a QP's frames in order, so
/// reassembly is concatenation; what is checked here is what an authentic
/// but broken peer could still get wrong.
struct ReauthenticationReassembly {
    /// The flags byte: set on every fragment but the last.
    static let moreFragments: UInt8 = 0x01
    /// The largest message: a handshake message's limit (A2/A3 hold at most
    /// a handshake's identity block).
    static let maxMessageSize = HandshakeLimits.maxMessageSize

    enum Failure: Error, Equatable, CustomStringConvertible {
        case emptyFragment
        case unknownFlags(UInt8)
        case tooLarge(Int)

        var description: String {
            switch self {
            case .emptyFragment: "re-authentication fragment without its flags byte"
            case .unknownFlags(let f): "re-authentication fragment with flags 0x\(String(f, radix: 16))"
            case .tooLarge(let n): "re-authentication message of \(n) bytes or more (limit \(maxMessageSize))"
            }
        }
    }

    /// The message so far; its capacity is reserved once, at the first fragment.
    private var buffer: [UInt8] = []

    /// Whether a message is partly received.
    var isPartial: Bool { !buffer.isEmpty }

    /// Adds one fragment's payload; returns the whole message after its last fragment.
    mutating func add(_ fragment: UnsafeRawBufferPointer) throws(Failure) -> [UInt8]? {
        guard let flags = fragment.first else { throw .emptyFragment }
        guard flags & ~Self.moreFragments == 0 else { throw .unknownFlags(flags) }
        let piece = UnsafeRawBufferPointer(rebasing: fragment.dropFirst())
        guard buffer.count + piece.count <= Self.maxMessageSize else { throw .tooLarge(buffer.count + piece.count) }
        if buffer.isEmpty, flags == 0 { return Array(piece) }
        if buffer.isEmpty { buffer.reserveCapacity(Self.maxMessageSize) }
        buffer.append(contentsOf: piece)
        guard flags == 0 else { return nil }
        defer { buffer = [] }
        return buffer
    }

    /// Splits `message` into fragment payloads of at most `capacity` bytes
    /// (flags byte included), in sending order.
    static func fragments(of message: [UInt8], capacity: Int) -> [ArraySlice<UInt8>] {
        precondition(capacity >= 2, "a fragment needs its flags byte and one message byte")
        let piece = capacity - 1
        var out: [ArraySlice<UInt8>] = []
        var start = message.startIndex
        repeat {
            let end = min(start + piece, message.endIndex)
            out.append(message[start..<end])
            start = end
        } while start < message.endIndex
        return out
    }
}
