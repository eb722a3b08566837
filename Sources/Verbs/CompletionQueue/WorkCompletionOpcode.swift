import CIBVerbs

/// What a completion completed (`enum ibv_wc_opcode`). Receive-side opcodes
/// have the IBV_WC_RECV bit (128) set.
public enum WorkCompletionOpcode: Hashable, Sendable {
    case send, rdmaWrite, rdmaRead, compareSwap, fetchAdd, bindMemoryWindow, localInvalidate
    case receive, receiveWithImmediate
    case other(UInt32)

    init(_ op: ibv_wc_opcode) {
        switch op {
        case IBV_WC_SEND: self = .send
        case IBV_WC_RDMA_WRITE: self = .rdmaWrite
        case IBV_WC_RDMA_READ: self = .rdmaRead
        case IBV_WC_COMP_SWAP: self = .compareSwap
        case IBV_WC_FETCH_ADD: self = .fetchAdd
        case IBV_WC_BIND_MW: self = .bindMemoryWindow
        case IBV_WC_LOCAL_INV: self = .localInvalidate
        case IBV_WC_RECV: self = .receive
        case IBV_WC_RECV_RDMA_WITH_IMM: self = .receiveWithImmediate
        default: self = .other(op.rawValue)
        }
    }
}
