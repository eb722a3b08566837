import CIBVerbs

/// An asynchronous event from the device (`ibv_get_async_event`, IB spec
/// 11.6.3): port up/down, a QP that went fatal, a CQ overrun. Copied out and
/// acknowledged at once, so holding it never blocks destroying the resource.
public struct AsyncEvent: Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case portActive, portError, queuePairFatal, queuePairRequestError, queuePairAccessError
        case communicationEstablished, sendQueueDrained, lastWorkQueueElementReached
        case completionQueueError, deviceFatal, gidChanged, sharedReceiveQueueLimitReached, sharedReceiveQueueError
        case other(UInt32)
    }

    public var kind: Kind
    /// Port number for port events.
    public var port: UInt8?
    /// QP number for QP events.
    public var queuePairNumber: UInt32?
    /// rdma-core's text for the event type (`ibv_event_type_str`).
    public var name: String

    init(_ e: ibv_async_event) {
        name = String(cString: ibv_event_type_str(e.event_type))
        switch e.event_type {
        case IBV_EVENT_PORT_ACTIVE: kind = .portActive
        case IBV_EVENT_PORT_ERR: kind = .portError
        case IBV_EVENT_QP_FATAL: kind = .queuePairFatal
        case IBV_EVENT_QP_REQ_ERR: kind = .queuePairRequestError
        case IBV_EVENT_QP_ACCESS_ERR: kind = .queuePairAccessError
        case IBV_EVENT_COMM_EST: kind = .communicationEstablished
        case IBV_EVENT_SQ_DRAINED: kind = .sendQueueDrained
        case IBV_EVENT_QP_LAST_WQE_REACHED: kind = .lastWorkQueueElementReached
        case IBV_EVENT_CQ_ERR: kind = .completionQueueError
        case IBV_EVENT_DEVICE_FATAL: kind = .deviceFatal
        case IBV_EVENT_GID_CHANGE: kind = .gidChanged
        case IBV_EVENT_SRQ_LIMIT_REACHED: kind = .sharedReceiveQueueLimitReached
        case IBV_EVENT_SRQ_ERR: kind = .sharedReceiveQueueError
        default: kind = .other(e.event_type.rawValue)
        }
        switch e.event_type {
        case IBV_EVENT_PORT_ACTIVE, IBV_EVENT_PORT_ERR, IBV_EVENT_LID_CHANGE, IBV_EVENT_PKEY_CHANGE,
            IBV_EVENT_SM_CHANGE, IBV_EVENT_CLIENT_REREGISTER, IBV_EVENT_GID_CHANGE:
            port = UInt8(truncatingIfNeeded: e.element.port_num)
        case IBV_EVENT_QP_FATAL, IBV_EVENT_QP_REQ_ERR, IBV_EVENT_QP_ACCESS_ERR, IBV_EVENT_COMM_EST,
            IBV_EVENT_SQ_DRAINED, IBV_EVENT_PATH_MIG, IBV_EVENT_PATH_MIG_ERR, IBV_EVENT_QP_LAST_WQE_REACHED:
            queuePairNumber = e.element.qp?.pointee.qp_num
        default: break
        }
    }

    public var description: String {
        var s = name
        if let port { s += " (port \(port))" }
        if let queuePairNumber { s += " (QP \(queuePairNumber))" }
        return s
    }
}
