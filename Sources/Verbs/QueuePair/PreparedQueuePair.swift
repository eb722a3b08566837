#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs

/// A QP in RESET that can hand out its endpoint. Non-copyable: `connect`
/// consumes it and returns a connected `QueuePair`, so "connect twice" or
/// "post on a QP that never reached RTS" cannot be written.
///
/// The INIT -> RTR -> RTS sequence follows IB spec 10.3.1 and rc_pingpong's
/// `pp_connect_ctx`; every step is checked by `QueuePairTransition` first.
public struct PreparedQueuePair: ~Copyable, Sendable {
    let handle: QueuePairHandle
    /// What to send to the peer (QPN, a random initial PSN, GID, LID, MTU).
    public let endpoint: QueuePairEndpoint
    /// Source GID table index the QP will use.
    public let gidIndex: Int

    init(handle: QueuePairHandle) throws(VerbsError) {
        self.handle = handle
        let context = handle.pd.context
        let port = try context.queryPort(handle.configuration.port)
        let entry: GidEntry
        if let index = handle.configuration.gidIndex {
            guard let e = try context.gidEntry(port: port.number, index: index) else {
                throw VerbsError(.gidNotFound, function: "ibv_query_gid_ex",
                    reason: "\(context.deviceName) port \(port.number) has no GID at index \(index)")
            }
            entry = e
        } else {
            entry = try context.defaultGid(port: port.number)
        }
        gidIndex = entry.index
        let psn = handle.configuration.initialPSN ?? Self.randomPSN()
        precondition(psn <= 0xFF_FFFF, "a PSN is 24 bits")
        endpoint = QueuePairEndpoint(queuePairNumber: handle.number, packetSequenceNumber: psn,
            gid: entry.gid, lid: port.lid, mtu: port.activeMTU)
    }

    /// A random 24-bit initial PSN (IB spec 9.7.1 leaves the choice to the
    /// consumer; random PSNs make stale packets from an earlier incarnation
    /// of a QPN unlikely to be accepted).
    static func randomPSN() -> UInt32 {
        var g = SystemRandomNumberGenerator()
        return UInt32.random(in: 0...0xFF_FFFF, using: &g)
    }

    public var queuePairNumber: UInt32 { endpoint.queuePairNumber }

    /// RESET -> INIT -> RTR -> RTS towards `remote` (RC). Consumes the
    /// prepared QP; on failure the QP is left in whatever state it reached
    /// and destroyed with this value.
    /// `receives` are posted in INIT, before RTR, so the peer's first SEND
    /// finds a buffer (IB spec 10.3.1 allows receives from INIT on; rc_pingpong
    /// does the same).
    public consuming func connect(
        to remote: QueuePairEndpoint, parameters: ConnectionParameters = ConnectionParameters(),
        receives: [ReceiveRequest] = []
    ) throws(VerbsError) -> QueuePair {
        precondition(handle.transport == .reliableConnection, "connect(to:) is for RC; use activateDatagram() for UD")
        let cfg = handle.configuration
        var a = ibv_qp_attr()
        a.pkey_index = 0
        a.port_num = cfg.port
        a.qp_access_flags = cfg.accessFlags.rawValue
        try handle.modify(from: .reset, to: .initialized, &a, [.state, .pkeyIndex, .port, .accessFlags])
        for r in receives { try QueuePair.postReceive(r, on: handle) }

        a = ibv_qp_attr()
        a.path_mtu = (parameters.pathMTU ?? min(endpoint.mtu, remote.mtu)).ibv
        a.dest_qp_num = remote.queuePairNumber
        a.rq_psn = remote.packetSequenceNumber
        a.max_dest_rd_atomic = parameters.maxReadAtomic
        a.min_rnr_timer = parameters.minRNRTimer
        a.ah_attr.dlid = remote.lid
        a.ah_attr.sl = parameters.serviceLevel
        a.ah_attr.port_num = cfg.port
        if !remote.gid.isZero {
            a.ah_attr.is_global = 1
            a.ah_attr.grh.dgid = remote.gid.ibv
            a.ah_attr.grh.sgid_index = UInt8(gidIndex)
            a.ah_attr.grh.hop_limit = parameters.hopLimit
            a.ah_attr.grh.traffic_class = parameters.trafficClass
        }
        try handle.modify(from: .initialized, to: .readyToReceive, &a,
            [.state, .addressVector, .pathMTU, .destinationQPN, .receivePSN, .maxResponderReadAtomic, .minRNRTimer])

        a = ibv_qp_attr()
        a.sq_psn = endpoint.packetSequenceNumber
        a.timeout = parameters.timeout
        a.retry_cnt = parameters.retryCount
        a.rnr_retry = parameters.rnrRetry
        a.max_rd_atomic = parameters.maxReadAtomic
        try handle.modify(from: .readyToReceive, to: .readyToSend, &a,
            [.state, .sendPSN, .timeout, .retryCount, .rnrRetry, .maxInitiatorReadAtomic])
        return QueuePair(handle: handle, remote: remote)
    }

    /// RESET -> INIT -> RTR -> RTS for a UD QP (no peer: each send names its destination).
    public consuming func activateDatagram(receives: [ReceiveRequest] = []) throws(VerbsError) -> QueuePair {
        precondition(handle.transport == .unreliableDatagram, "activateDatagram() is for UD; use connect(to:) for RC")
        let cfg = handle.configuration
        var a = ibv_qp_attr()
        a.pkey_index = 0
        a.port_num = cfg.port
        a.qkey = cfg.qkey
        try handle.modify(from: .reset, to: .initialized, &a, [.state, .pkeyIndex, .port, .qkey])
        for r in receives { try QueuePair.postReceive(r, on: handle) }
        a = ibv_qp_attr()
        try handle.modify(from: .initialized, to: .readyToReceive, &a, [.state])
        a = ibv_qp_attr()
        a.sq_psn = endpoint.packetSequenceNumber
        try handle.modify(from: .readyToReceive, to: .readyToSend, &a, [.state, .sendPSN])
        return QueuePair(handle: handle, remote: nil)
    }

    /// Inline bytes the provider granted for this QP.
    public var maxInlineData: Int { handle.maxInlineData }
}
