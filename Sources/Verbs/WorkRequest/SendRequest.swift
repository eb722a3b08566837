/// A send work request. A value with inline storage: building and posting
/// one touches no heap. `id` comes back in the completion (`wr_id`), which is
/// how layers above match completions to their own request handles.
public struct SendRequest: Sendable {
    public var id: UInt64
    public var operation: SendOperation
    public var elements: ScatterGatherList
    public var flags: SendFlags

    public init(id: UInt64, operation: SendOperation, elements: ScatterGatherList = ScatterGatherList(), flags: SendFlags = .signaled) {
        self.id = id
        self.operation = operation
        self.elements = elements
        self.flags = flags
    }

    public init(id: UInt64, operation: SendOperation, element: ScatterGatherElement, flags: SendFlags = .signaled) {
        self.init(id: id, operation: operation, elements: ScatterGatherList(element), flags: flags)
    }
}
