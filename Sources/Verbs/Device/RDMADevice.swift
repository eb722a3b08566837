import CIBVerbs

/// An RDMA device the kernel exposes (`ibv_get_device_list`), by name and GUID.
/// Value type: the list is copied and freed at once, so nothing dangles.
public struct RDMADevice: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    /// Node GUID in host order (`ibv_get_device_guid` returns network order).
    public var guid: UInt64
    /// "InfiniBand", "iWARP", ... from `ibv_node_type_str`.
    public var nodeType: String

    /// All RDMA devices visible to libibverbs. An empty list is not an error:
    /// libibverbs returns an empty list when /sys/class/infiniband is empty,
    /// and NULL with errno (ENOSYS) when the kernel lacks uverbs entirely.
    public static func all() throws(VerbsError) -> [RDMADevice] {
        var count: Int32 = 0
        let list = try VerbsCall.pointer("ibv_get_device_list") { ibv_get_device_list(&count) }
        defer { ibv_free_device_list(list) }
        var devices: [RDMADevice] = []
        for i in 0..<Int(count) {
            guard let dev = list[i] else { continue }
            devices.append(
                RDMADevice(
                    name: String(cString: ibv_get_device_name(dev)),
                    guid: UInt64(bigEndian: ibv_get_device_guid(dev)),
                    nodeType: String(cString: ibv_node_type_str(dev.pointee.node_type))))
        }
        return devices
    }

    public var description: String { name }
}
