import CIBVerbs

/// Both ends of a connected RC QP as the device holds them (`ibv_query_qp`).
///
/// For QPs that librdmacm connected, this is the only way to learn the PSNs
/// and the path it chose. The PSNs move as packets flow: `sendPSN` is this
/// QP's initial PSN only until it sends, `expectedReceivePSN` the peer's
/// initial PSN only until something arrives.
public struct ConnectedPath: Sendable, Hashable, CustomStringConvertible {
    public var queuePairNumber: UInt32
    public var sendPSN: UInt32
    public var destinationQueuePairNumber: UInt32
    public var expectedReceivePSN: UInt32
    public var pathMTU: Mtu
    public var sourceGidIndex: Int
    public var remoteGid: Gid

    public var description: String {
        "QP \(queuePairNumber) (send PSN \(sendPSN)) -> QP \(destinationQueuePairNumber) at \(remoteGid) (expected PSN \(expectedReceivePSN)), MTU \(pathMTU), sgid index \(sourceGidIndex)"
    }
}

extension QueuePair {
    /// Queries the path and PSNs of this connected QP.
    public func connectedPath() throws(VerbsError) -> ConnectedPath {
        var attr = ibv_qp_attr()
        var initAttr = ibv_qp_init_attr()
        let mask: QueuePairAttributeMask = [.sendPSN, .receivePSN, .destinationQPN, .pathMTU, .addressVector]
        try VerbsCall.check("ibv_query_qp", .returnsErrno) {
            ibv_query_qp(handle.pointer, &attr, Int32(bitPattern: mask.rawValue), &initAttr)
        }
        guard let mtu = Mtu(rawValue: attr.path_mtu.rawValue) else {
            throw VerbsError(.protocolViolation, function: "ibv_query_qp", reason: "unknown path MTU code \(attr.path_mtu.rawValue)")
        }
        return ConnectedPath(queuePairNumber: number, sendPSN: attr.sq_psn, destinationQueuePairNumber: attr.dest_qp_num,
            expectedReceivePSN: attr.rq_psn, pathMTU: mtu, sourceGidIndex: Int(attr.ah_attr.grh.sgid_index),
            remoteGid: Gid(attr.ah_attr.grh.dgid))
    }
}
