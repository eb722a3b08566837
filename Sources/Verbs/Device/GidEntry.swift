/// One populated row of a port's GID table.
public struct GidEntry: Hashable, Sendable, CustomStringConvertible {
    public var index: Int
    public var gid: Gid
    public var type: GidType
    /// Index of the netdev the GID belongs to (0 on InfiniBand).
    public var netdevIndex: UInt32

    public init(index: Int, gid: Gid, type: GidType, netdevIndex: UInt32 = 0) {
        self.index = index
        self.gid = gid
        self.type = type
        self.netdevIndex = netdevIndex
    }

    public var description: String { "\(index)\t\(gid)\t\(type)" }
}
