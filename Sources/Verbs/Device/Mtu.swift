import CIBVerbs

/// An InfiniBand path MTU (`enum ibv_mtu`, IB spec 7.7.9): 256 to 4096 bytes.
/// RoCE derives it from the netdev MTU; rxe on a 1500-byte netdev reports 1024.
public enum Mtu: UInt32, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case mtu256 = 1, mtu512 = 2, mtu1024 = 3, mtu2048 = 4, mtu4096 = 5

    public init?(bytes: Int) {
        guard let m = Mtu.allCases.first(where: { $0.bytes == bytes }) else { return nil }
        self = m
    }

    init?(_ raw: ibv_mtu) { self.init(rawValue: raw.rawValue) }

    public var bytes: Int { 128 << Int(rawValue) }
    var ibv: ibv_mtu { ibv_mtu(rawValue: rawValue) }

    public static func < (a: Mtu, b: Mtu) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "\(bytes)" }
}
