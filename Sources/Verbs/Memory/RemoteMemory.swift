/// Where a peer's memory is: address, rkey and length (the triple an RDMA
/// WRITE/READ names; IB spec 9.4.3 RETH). Sendable so it can travel in private data.
public struct RemoteMemory: Hashable, Sendable {
    public var address: UInt64
    public var rkey: UInt32
    public var length: UInt32

    public init(address: UInt64, rkey: UInt32, length: UInt32) {
        self.address = address
        self.rkey = rkey
        self.length = length
    }

    /// A sub-range, for writes at an offset.
    public func slice(offset: Int, length: Int) -> RemoteMemory {
        precondition(offset >= 0 && offset + length <= Int(self.length), "remote slice out of range")
        return RemoteMemory(address: address + UInt64(offset), rkey: rkey, length: UInt32(length))
    }

    /// 16 bytes, big-endian: address, rkey, length. For private data and TCP exchange.
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        withUnsafeBytes(of: address.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: rkey.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: length.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    public init?(encoded bytes: some Collection<UInt8>) {
        let b = Array(bytes)
        guard b.count >= 16 else { return nil }
        func be<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T {
            var v: T = 0
            for i in 0..<MemoryLayout<T>.size { v = v << 8 | T(b[at + i]) }
            return v
        }
        self.init(address: be(0, UInt64.self), rkey: be(8, UInt32.self), length: be(12, UInt32.self))
    }
}
