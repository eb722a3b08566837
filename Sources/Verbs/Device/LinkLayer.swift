import CIBVerbs

/// The port's link layer (`ibv_port_attr.link_layer`): InfiniBand or Ethernet
/// (RoCE, iWARP). It decides whether a LID or a GRH addresses the peer.
public enum LinkLayer: UInt8, Sendable, CustomStringConvertible {
    case unspecified = 0  // IBV_LINK_LAYER_UNSPECIFIED: old providers, means InfiniBand
    case infiniband = 1
    case ethernet = 2

    public var description: String {
        switch self {
        case .unspecified: "unspecified"
        case .infiniband: "InfiniBand"
        case .ethernet: "Ethernet"
        }
    }
}
