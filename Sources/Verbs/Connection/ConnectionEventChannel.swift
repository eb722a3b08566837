#if canImport(Glibc)
import Glibc
#endif
import CRDMACM

/// An rdma_cm event channel (`rdma_create_event_channel`): the fd on which
/// address/route resolution, connection and disconnect events arrive.
/// Every identifier in this library gets its own channel (accepted ones are
/// moved with `rdma_migrate_id`), so waiting on one connection never
/// swallows another's events.
final class ConnectionEventChannel: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<rdma_event_channel>

    init() throws(VerbsError) {
        pointer = try VerbsCall.pointer("rdma_create_event_channel",
            reason: "is the rdma_ucm kernel module loaded (/dev/infiniband/rdma_cm)?") { rdma_create_event_channel() }
    }

    deinit { rdma_destroy_event_channel(pointer) }

    /// Takes the next event within `timeout`, copies it and acks it at once
    /// (unacked events block rdma_destroy_id). nil on timeout.
    func next(timeout: Duration) throws(VerbsError) -> (ConnectionEvent, newIdentifier: UnsafeMutablePointer<rdma_cm_id>?)? {
        guard try FileDescriptorWait.readable(pointer.pointee.fd, timeout: timeout, function: "poll(rdma_event_channel)")
        else { return nil }
        var raw: UnsafeMutablePointer<rdma_cm_event>?
        try VerbsCall.check("rdma_get_cm_event", .minusOneSetsErrno) { rdma_get_cm_event(pointer, &raw) }
        guard let raw else { preconditionFailure("rdma_get_cm_event returned no event") }
        let event = ConnectionEvent(raw.pointee)
        let newId = raw.pointee.event == RDMA_CM_EVENT_CONNECT_REQUEST ? raw.pointee.id : nil
        rdma_ack_cm_event(raw)
        return (event, newId)
    }
}
