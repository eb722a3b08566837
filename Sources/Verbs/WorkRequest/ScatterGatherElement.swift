import CIBVerbs

/// One scatter/gather element: a registered range by address, length and
/// lkey. Laid out exactly like `struct ibv_sge` (checked at start-up of the
/// test suite and by `layoutMatchesC`), so lists copy without conversion.
public struct ScatterGatherElement: Hashable, Sendable {
    public var address: UInt64
    public var length: UInt32
    public var lkey: UInt32

    public init(address: UInt64, length: UInt32, lkey: UInt32) {
        self.address = address
        self.length = length
        self.lkey = lkey
    }

    public static let empty = ScatterGatherElement(address: 0, length: 0, lkey: 0)

    /// The layout mirror CNIOLinux-style: same size, stride and field offsets as ibv_sge.
    static var layoutMatchesC: Bool {
        MemoryLayout<ScatterGatherElement>.size == MemoryLayout<ibv_sge>.size
            && MemoryLayout<ScatterGatherElement>.stride == MemoryLayout<ibv_sge>.stride
            && MemoryLayout<ScatterGatherElement>.offset(of: \.address) == MemoryLayout<ibv_sge>.offset(of: \.addr)
            && MemoryLayout<ScatterGatherElement>.offset(of: \.length) == MemoryLayout<ibv_sge>.offset(of: \.length)
            && MemoryLayout<ScatterGatherElement>.offset(of: \.lkey) == MemoryLayout<ibv_sge>.offset(of: \.lkey)
    }
}
