#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs
import CVerbsShim

/// An open device (`struct ibv_context`). Everything else hangs off it, and
/// holds it alive: it is closed (`ibv_close_device`) only after the last PD,
/// CQ and channel made from it are gone, as rc_pingpong's `pp_close_ctx` orders it.
///
/// Contexts that librdmacm opened (`rdma_cm_id.verbs`) are wrapped without
/// ownership: librdmacm keeps them open while any cm_id refers to the device,
/// so such a Context keeps the cm_id that lent it alive instead.
public final class Context: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_context>
    private let owned: Bool
    private let lender: AnyObject?
    public let deviceName: String

    /// Opens the device named `name`, or the first device when `name` is nil.
    /// Throws `.deviceNotFound` naming the devices that do exist.
    public init(deviceName name: String? = nil) throws(VerbsError) {
        var count: Int32 = 0
        let list = try VerbsCall.pointer("ibv_get_device_list", code: .deviceNotFound,
            reason: "libibverbs found no RDMA subsystem (is the kernel built with CONFIG_INFINIBAND?)") {
            ibv_get_device_list(&count)
        }
        defer { ibv_free_device_list(list) }
        var names: [String] = []
        var chosen: UnsafeMutablePointer<ibv_device>?
        for i in 0..<Int(count) {
            guard let dev = list[i] else { continue }
            let devName = String(cString: ibv_get_device_name(dev))
            names.append(devName)
            if chosen == nil && (name == nil || name == devName) { chosen = dev }
        }
        guard let chosen else {
            let want = name.map { "no RDMA device named '\($0)'" } ?? "no RDMA device"
            let have = names.isEmpty ? "none present" : "present: " + names.joined(separator: ", ")
            throw VerbsError(.deviceNotFound, function: "ibv_get_device_list", reason: "\(want) (\(have))")
        }
        pointer = try VerbsCall.pointer("ibv_open_device", reason: "device \(name ?? "#0")") {
            ibv_open_device(chosen)
        }
        deviceName = String(cString: ibv_get_device_name(chosen))
        owned = true
        lender = nil
    }

    /// Wraps a context owned by someone else (librdmacm), keeping `lender` alive.
    init(borrowing pointer: UnsafeMutablePointer<ibv_context>, lender: AnyObject) {
        self.pointer = pointer
        self.owned = false
        self.lender = lender
        self.deviceName = String(cString: ibv_get_device_name(pointer.pointee.device))
    }

    deinit {
        if owned { ibv_close_device(pointer) }
    }

    public func queryDevice() throws(VerbsError) -> DeviceAttributes {
        var attr = ibv_device_attr()
        try VerbsCall.check("ibv_query_device", .returnsErrno) { ibv_query_device(pointer, &attr) }
        return DeviceAttributes(attr)
    }

    /// Port attributes. Ports are numbered from 1 (IB spec 14.2.5.6); a port
    /// the device lacks throws `.portNotFound` rather than the kernel's bare EINVAL.
    public func queryPort(_ port: UInt8 = 1) throws(VerbsError) -> PortAttributes {
        let ports = try queryDevice().portCount
        guard port >= 1, Int(port) <= ports else {
            throw VerbsError(.portNotFound, function: "ibv_query_port",
                reason: "\(deviceName) has port\(ports == 1 ? "" : "s") 1...\(ports), not \(port)")
        }
        var attr = ibv_port_attr()
        try VerbsCall.check("ibv_query_port", .returnsErrno) { fa_ibv_query_port(pointer, port, &attr) }
        return PortAttributes(number: port, attr)
    }

    /// One GID table entry, or nil if the slot is empty (the kernel answers
    /// ENODATA/EINVAL for unpopulated RoCE slots).
    public func gidEntry(port: UInt8 = 1, index: Int) throws(VerbsError) -> GidEntry? {
        var gid = ibv_gid()
        var type: UInt32 = 0
        var ifindex: UInt32 = 0
        let rc = fa_ibv_query_gid_entry(pointer, UInt32(port), UInt32(index), &gid, &type, &ifindex)
        if rc != 0 {
            if Glibc.errno == ENODATA || Glibc.errno == EINVAL || Glibc.errno == ENOENT { return nil }
            throw VerbsCall.failure("ibv_query_gid_ex", errno: Glibc.errno, code: .callFailed,
                reason: "port \(port) index \(index)", file: #fileID, line: #line)
        }
        let entry = GidEntry(index: index, gid: Gid(gid), type: GidType(rawValue: type) ?? .infiniband,
            netdevIndex: ifindex)
        return entry.gid.isZero ? nil : entry
    }

    /// All populated GID table entries of a port with their types.
    public func gidTable(port: UInt8 = 1) throws(VerbsError) -> [GidEntry] {
        let length = try queryPort(port).gidTableLength
        var table: [GidEntry] = []
        for i in 0..<length {
            if let e = try gidEntry(port: port, index: i) { table.append(e) }
        }
        return table
    }

    /// The GID to use when the caller names none (see `GidSelection`).
    public func defaultGid(port: UInt8 = 1) throws(VerbsError) -> GidEntry {
        guard let e = GidSelection.defaultEntry(in: try gidTable(port: port)) else {
            throw VerbsError(.gidNotFound, function: "ibv_query_gid_ex",
                reason: "\(deviceName) port \(port) has an empty GID table (netdev without an address?)")
        }
        return e
    }

    /// Waits up to `timeout` for the next asynchronous event (port down, QP
    /// fatal, ...). Returns nil when none arrived in time. The event is
    /// acknowledged before returning (`ibv_ack_async_event`).
    public func nextAsyncEvent(timeout: Duration) throws(VerbsError) -> AsyncEvent? {
        guard try FileDescriptorWait.readable(pointer.pointee.async_fd, timeout: timeout, function: "poll(async_fd)")
        else { return nil }
        var event = ibv_async_event()
        try VerbsCall.check("ibv_get_async_event", .minusOneSetsErrno) { ibv_get_async_event(pointer, &event) }
        let copy = AsyncEvent(event)
        ibv_ack_async_event(&event)
        return copy
    }

    public func makeProtectionDomain() throws(VerbsError) -> ProtectionDomain {
        try ProtectionDomain(context: self)
    }
}
