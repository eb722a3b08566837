/// Big-endian (network order) writer for handshake messages.
struct WireWriter {
    private(set) var buffer: [UInt8] = []

    init(capacity: Int = 128) { buffer.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { buffer.append(v) }
    mutating func u16(_ v: UInt16) { buffer.append(UInt8(v >> 8)); buffer.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    mutating func bytes(_ b: [UInt8]) { buffer.append(contentsOf: b) }
    /// u16 length then the bytes; caller has checked the length fits.
    mutating func vector16(_ b: [UInt8]) {
        precondition(b.count <= Int(UInt16.max))
        u16(UInt16(b.count))
        bytes(b)
    }
}

/// Bounds-checked reader: every read either returns the bytes or throws `.truncated`.
/// Parsers built on it are total (no traps on any input), which the fuzz tests check.
struct WireReader {
    let data: ArraySlice<UInt8>
    private(set) var offset: Int

    init(_ bytes: [UInt8]) { data = bytes[...]; offset = data.startIndex }
    init(_ slice: ArraySlice<UInt8>) { data = slice; offset = slice.startIndex }

    var remaining: Int { data.endIndex - offset }
    var isAtEnd: Bool { remaining == 0 }

    mutating func u8() throws(HandshakeError) -> UInt8 {
        guard remaining >= 1 else { throw HandshakeError(.truncated, "need 1 byte at \(offset)") }
        defer { offset += 1 }
        return data[offset]
    }

    mutating func u16() throws(HandshakeError) -> UInt16 {
        guard remaining >= 2 else { throw HandshakeError(.truncated, "need 2 bytes at \(offset)") }
        defer { offset += 2 }
        return UInt16(data[offset]) << 8 | UInt16(data[offset + 1])
    }

    mutating func u32() throws(HandshakeError) -> UInt32 {
        guard remaining >= 4 else { throw HandshakeError(.truncated, "need 4 bytes at \(offset)") }
        defer { offset += 4 }
        return (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(data[offset + $1]) }
    }

    mutating func bytes(_ n: Int) throws(HandshakeError) -> [UInt8] {
        guard n >= 0, remaining >= n else { throw HandshakeError(.truncated, "need \(n) bytes at \(offset)") }
        defer { offset += n }
        return Array(data[offset..<(offset + n)])
    }

    /// u16 length-prefixed bytes, at most `limit` long (`.oversized` beyond).
    mutating func vector16(limit: Int, what: String) throws(HandshakeError) -> [UInt8] {
        let n = Int(try u16())
        guard n <= limit else { throw HandshakeError(.oversized, "\(what) of \(n) bytes > \(limit)") }
        return try bytes(n)
    }

    mutating func rest() -> ArraySlice<UInt8> {
        defer { offset = data.endIndex }
        return data[offset...]
    }

    func expectEnd(_ what: String) throws(HandshakeError) {
        guard isAtEnd else { throw HandshakeError(.malformed, "\(remaining) trailing bytes after \(what)") }
    }
}
