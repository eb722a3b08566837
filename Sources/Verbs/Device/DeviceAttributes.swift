import CIBVerbs

/// The limits of a device that callers size resources by (`ibv_query_device`,
/// IB spec 11.2.1.2 Query HCA).
public struct DeviceAttributes: Sendable {
    public var firmwareVersion: String
    public var nodeGUID: UInt64
    public var portCount: Int
    public var maxQueuePairs: Int
    public var maxWorkRequestsPerQueue: Int
    public var maxScatterGatherEntries: Int
    public var maxCompletionQueueEntries: Int
    public var maxMemoryRegions: Int
    public var maxReadAtomicPerQueuePair: Int
    public var maxSharedReceiveQueues: Int
    public var maxMemoryWindows: Int
    public var capabilityFlags: UInt32
    /// The IEEE OUI of the vendor (`vendor_id`).
    public var vendorID: UInt32

    init(_ a: ibv_device_attr) {
        var attr = a
        firmwareVersion = withUnsafeBytes(of: &attr.fw_ver) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        nodeGUID = UInt64(bigEndian: a.node_guid)
        portCount = Int(a.phys_port_cnt)
        maxQueuePairs = Int(a.max_qp)
        maxWorkRequestsPerQueue = Int(a.max_qp_wr)
        maxScatterGatherEntries = Int(a.max_sge)
        maxCompletionQueueEntries = Int(a.max_cqe)
        maxMemoryRegions = Int(a.max_mr)
        maxReadAtomicPerQueuePair = Int(a.max_qp_rd_atom)
        maxSharedReceiveQueues = Int(a.max_srq)
        maxMemoryWindows = Int(a.max_mw)
        capabilityFlags = a.device_cap_flags
        vendorID = a.vendor_id
    }

    /// The vendor ID Soft-RoCE reports: rdma_rxe has no hardware and no OUI
    /// and answers 0xFFFFFF (Linux drivers/infiniband/sw/rxe/rxe_param.h,
    /// RXE_VENDOR_ID, unchanged from 4.8 to 6.x).
    public static let softRoCEVendorID: UInt32 = 0xFF_FFFF

    /// Whether the device is Soft-RoCE (rdma_rxe), whose quirks some callers
    /// work around (see `ChannelConfiguration.windowOperationsAwaitAcknowledgements`).
    public var isSoftRoCE: Bool { vendorID == Self.softRoCEVendorID }

    /// IBV_DEVICE_MEM_WINDOW_TYPE_2B: type 2B windows (bound to one QP) supported.
    public var supportsMemoryWindowType2: Bool {
        capabilityFlags & IBV_DEVICE_MEM_WINDOW_TYPE_2B.rawValue != 0
            || capabilityFlags & IBV_DEVICE_MEM_WINDOW_TYPE_2A.rawValue != 0
    }
}
