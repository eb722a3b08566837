import CIBVerbs

/// An address handle for UD sends (`ibv_create_ah`, IB spec 10.2.2): the path
/// to one remote port. Holds its PD.
public final class AddressHandle: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_ah>
    public let pd: ProtectionDomain

    /// A handle towards `remote`, leaving from `port` with source GID `gidIndex`.
    public init(pd: ProtectionDomain, remote: QueuePairEndpoint, port: UInt8 = 1, gidIndex: Int, hopLimit: UInt8 = 64) throws(VerbsError) {
        self.pd = pd
        var attr = ibv_ah_attr()
        attr.is_global = 1
        attr.grh.dgid = remote.gid.ibv
        attr.grh.sgid_index = UInt8(gidIndex)
        attr.grh.hop_limit = hopLimit
        attr.dlid = remote.lid
        attr.port_num = port
        pointer = try VerbsCall.pointer("ibv_create_ah", reason: "to \(remote.gid)") { ibv_create_ah(pd.pointer, &attr) }
    }

    deinit {
        let rc = ibv_destroy_ah(pointer)
        assert(rc == 0, "ibv_destroy_ah: \(rc)")
    }
}
