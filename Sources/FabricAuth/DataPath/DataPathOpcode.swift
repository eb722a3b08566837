/// The operation a frame travels in; authenticated in the header so a SEND
/// can't be replayed as a WRITE or vice versa.
public enum DataPathOpcode: UInt8, Sendable, CaseIterable {
    case send = 0
    case sendWithImmediate = 1
    /// RDMA WRITE: the header's remoteAddress/rkey name the target, and the
    /// target length is the payload length.
    case rdmaWrite = 2
    case rdmaWriteWithImmediate = 3
}
