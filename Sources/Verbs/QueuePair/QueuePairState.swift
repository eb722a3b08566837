import CIBVerbs

/// QP states (`enum ibv_qp_state`, IB spec 10.3.1 figure 124).
public enum QueuePairState: UInt32, Sendable, CustomStringConvertible {
    case reset = 0, initialized = 1, readyToReceive = 2, readyToSend = 3
    case sendQueueDrain = 4, sendQueueError = 5, error = 6

    init(_ s: ibv_qp_state) { self = QueuePairState(rawValue: s.rawValue) ?? .error }
    var ibv: ibv_qp_state { ibv_qp_state(rawValue: rawValue) }

    public var description: String {
        switch self {
        case .reset: "RESET"
        case .initialized: "INIT"
        case .readyToReceive: "RTR"
        case .readyToSend: "RTS"
        case .sendQueueDrain: "SQD"
        case .sendQueueError: "SQE"
        case .error: "ERR"
        }
    }
}
