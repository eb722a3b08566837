/// The sizes a completed request reports: one per buffer of a grouped
/// receive (at most 8, NCCL's `NCCL_NET_MAX_RECVS`), one for every other
/// request. Fixed storage so completing a request allocates nothing.
public struct ReceiveSizes: Hashable, Sendable, RandomAccessCollection, CustomStringConvertible {
    /// Most buffers one receive request covers.
    public static let capacity = 8

    private var storage: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    public private(set) var count = 0

    public init() {}

    init(single size: Int) {
        append(size)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> Int {
        get {
            precondition(i >= 0 && i < count, "index \(i) out of \(count) sizes")
            return withUnsafeBytes(of: storage) { $0.load(fromByteOffset: i * MemoryLayout<Int>.stride, as: Int.self) }
        }
        set {
            precondition(i >= 0 && i < count, "index \(i) out of \(count) sizes")
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: newValue, toByteOffset: i * MemoryLayout<Int>.stride, as: Int.self) }
        }
    }

    mutating func append(_ size: Int) {
        precondition(count < Self.capacity, "more than \(Self.capacity) sizes")
        count += 1
        self[count - 1] = size
    }

    /// Bytes over all buffers.
    public var total: Int { reduce(0, +) }

    public var description: String { "[" + map(String.init).joined(separator: ", ") + "]" }

    public static func == (a: ReceiveSizes, b: ReceiveSizes) -> Bool { a.elementsEqual(b) }
    public func hash(into h: inout Hasher) { for s in self { h.combine(s) } }
}
