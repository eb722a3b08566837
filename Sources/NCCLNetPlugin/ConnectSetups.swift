import FabricAuth
import Synchronization

/// Connects in progress, by the setup ID `connect` leaves in NCCL's handle.
/// Each is a ``ConnectorSetup`` that NCCL's repeated `connect` calls step
/// (net_v8.h: "This call must not block"): no thread per pending connection.
/// IDs, not pointers, go into the handle: the handle came over the network,
/// and an ID this process never issued is refused instead of dereferenced.
/// The table belongs to a runtime, so setups NCCL abandoned go with its load.
/// (Generic only so the host tests can fill it without a device.)
final class ConnectSetups<Setup: AnyObject>: Sendable {
    /// A setup is stepped by whichever thread calls `connect` with its handle,
    /// NCCL's proxy thread, one call at a time; the table only stores it.
    private struct Entry: @unchecked Sendable {
        let setup: Setup
    }

    private let table = Mutex<[UInt64: Entry]>([:])
    private let nextID = Atomic<UInt64>(UInt64.random(in: 1...(UInt64.max >> 1)))

    func start(_ setup: Setup) -> UInt64 {
        let id = nextID.add(1, ordering: .relaxed).newValue
        table.withLock { $0[id] = Entry(setup: setup) }
        return id
    }

    func find(_ id: UInt64) -> Setup? { table.withLock { $0[id]?.setup } }

    func finish(_ id: UInt64) { _ = table.withLock { $0.removeValue(forKey: id) } }

    /// Drops every setup (the load ends): their QPs and sockets close with them.
    func removeAll() { table.withLock { $0.removeAll() } }
}
