import CIBVerbs

/// One port's state (`ibv_query_port` through the `fa_ibv_query_port` shim,
/// which fills the extended fields; IB spec 14.2.5.6 PortInfo).
public struct PortAttributes: Sendable {
    public var number: UInt8
    public var state: PortState
    public var maxMTU: Mtu
    public var activeMTU: Mtu
    public var lid: UInt16
    public var linkLayer: LinkLayer
    public var gidTableLength: Int
    public var maxMessageSize: UInt32

    init(number: UInt8, _ a: ibv_port_attr) {
        self.number = number
        state = PortState(a.state)
        maxMTU = Mtu(a.max_mtu) ?? .mtu256
        activeMTU = Mtu(a.active_mtu) ?? .mtu256
        lid = a.lid
        linkLayer = LinkLayer(rawValue: a.link_layer) ?? .unspecified
        gidTableLength = Int(a.gid_tbl_len)
        maxMessageSize = a.max_msg_sz
    }

    /// RoCE addresses peers by GID only; InfiniBand needs the LID (and a GRH only across subnets).
    public var needsGlobalRoute: Bool { linkLayer == .ethernet }
}
