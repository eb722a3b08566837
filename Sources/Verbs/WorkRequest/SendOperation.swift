/// What a send work request does (`enum ibv_wr_opcode`, IB spec 11.4.1.1).
/// Immediate data is given in host order and sent big-endian.
public enum SendOperation: Sendable {
    case send
    case sendWithImmediate(UInt32)
    /// SEND that also invalidates `rkey` at the receiver (remote invalidate, IB spec 10.6.7.2.5).
    case sendWithInvalidate(rkey: UInt32)
    case write(RemoteMemory)
    case writeWithImmediate(RemoteMemory, immediate: UInt32)
    case read(RemoteMemory)
    /// Invalidates a local memory window or region key (IB spec 10.6.7.2.4).
    case localInvalidate(rkey: UInt32)
    /// UD SEND to a datagram destination.
    case sendTo(DatagramDestination)
}
