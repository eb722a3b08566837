import CIBVerbs

/// Transport service of a QP (IB spec 9.7 RC, 9.8 UD).
public enum QueuePairTransport: Sendable, CustomStringConvertible {
    /// Reliable Connected: one peer, all operations, acknowledged.
    case reliableConnection
    /// Unreliable Datagram: SEND only, addressed per request, MTU-sized messages.
    case unreliableDatagram

    var ibv: ibv_qp_type {
        switch self {
        case .reliableConnection: IBV_QPT_RC
        case .unreliableDatagram: IBV_QPT_UD
        }
    }

    public var description: String { self == .reliableConnection ? "RC" : "UD" }
}
