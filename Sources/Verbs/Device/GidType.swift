/// The type of a GID table entry (rdma-core 44 `enum ibv_gid_type` as returned
/// by `ibv_query_gid_ex`; sysfs `gid_attrs/types/N`). RoCE v2 (IBTA RoCEv2
/// annex A17) is routable UDP/IP; RoCE v1 is an Ethernet frame with a GRH.
public enum GidType: UInt32, Sendable, CustomStringConvertible {
    case infiniband = 0  // IBV_GID_TYPE_IB
    case roceV1 = 1  // IBV_GID_TYPE_ROCE_V1
    case roceV2 = 2  // IBV_GID_TYPE_ROCE_V2

    /// Parses the sysfs spelling ("IB/RoCE v1", "RoCE v2").
    public init?(sysfsName: String) {
        switch sysfsName.trimmingWhitespace() {
        case "IB/RoCE v1", "RoCE v1", "IB": self = .roceV1
        case "RoCE v2": self = .roceV2
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .infiniband: "IB"
        case .roceV1: "RoCE v1"
        case .roceV2: "RoCE v2"
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
