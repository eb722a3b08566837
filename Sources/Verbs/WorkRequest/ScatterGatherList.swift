/// Up to four scatter/gather elements stored inline (no heap), enough for
/// header + payload + trailer layouts. Four is within every provider's
/// max_sge (rxe: 32, mlx5: 30).
public struct ScatterGatherList: Sendable {
    public static let capacity = 4
    var storage: InlineArray<4, ScatterGatherElement> = .init(repeating: .empty)
    public private(set) var count: Int = 0

    public init() {}

    public init(_ element: ScatterGatherElement) {
        append(element)
    }

    public init(_ a: ScatterGatherElement, _ b: ScatterGatherElement) {
        append(a)
        append(b)
    }

    public init(_ a: ScatterGatherElement, _ b: ScatterGatherElement, _ c: ScatterGatherElement) {
        append(a)
        append(b)
        append(c)
    }

    public mutating func append(_ e: ScatterGatherElement) {
        precondition(count < Self.capacity, "a ScatterGatherList holds at most \(Self.capacity) elements")
        storage[count] = e
        count += 1
    }

    public subscript(i: Int) -> ScatterGatherElement {
        precondition(i >= 0 && i < count)
        return storage[i]
    }

    /// Sum of the element lengths.
    public var totalLength: Int {
        var t = 0
        for i in 0..<count { t += Int(storage[i].length) }
        return t
    }
}
