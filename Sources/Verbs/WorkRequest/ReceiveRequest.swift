/// A receive work request: where an incoming SEND (or the immediate of a
/// WRITE_WITH_IMM, which consumes a receive) lands.
public struct ReceiveRequest: Sendable {
    public var id: UInt64
    public var elements: ScatterGatherList

    public init(id: UInt64, elements: ScatterGatherList = ScatterGatherList()) {
        self.id = id
        self.elements = elements
    }

    public init(id: UInt64, element: ScatterGatherElement) {
        self.init(id: id, elements: ScatterGatherList(element))
    }
}
