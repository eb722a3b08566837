import FabricAuth
import FabricAuthMetrics
import Foundation
import Synchronization

/// A value moved from a setup thread to NCCL's proxy thread. The channel is
/// not thread-safe, but it is only ever used by one thread at a time: the
/// setup thread until it stores the result under `PendingSetup`'s lock, NCCL's
/// thread after it takes it under the same lock.
struct Handoff<T>: @unchecked Sendable {
    let value: T
}

/// One connect being set up on a thread of its own, so that NCCL's
/// `connect` returns at once (net_v8.h: "This call must not block") while
/// AuthenticatedConnector runs its blocking TCP exchange, QP bring-up and
/// handshake. The next call takes the result. (The listening side needs no
/// thread per connection: ``ProcessListener``.)
final class PendingSetup: @unchecked Sendable {
    typealias Outcome = Result<AuthenticatedQueuePair, ChannelError>

    private let lock = NSLock()
    private var outcome: Outcome?
    private var abandoned = false

    init(name: String, _ work: @escaping @Sendable () -> Handoff<Outcome>) {
        let thread = Thread { [self] in
            let result = work().value
            lock.lock()
            defer { lock.unlock() }
            if abandoned {
                // Nobody will take it: a channel set up after NCCL gave up is closed, not leaked.
                if case .success(let channel) = result { channel.close() }
            } else {
                outcome = result
            }
        }
        thread.name = name
        // Certificate parsing and the handshake run on this thread: more than Foundation's 512 KiB default.
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// The finished setup, once (nil while it runs).
    func take() -> Handoff<Outcome>? {
        lock.lock()
        defer { lock.unlock() }
        guard let o = outcome else { return nil }
        outcome = nil
        return Handoff(value: o)
    }

    /// NCCL will not ask again: close whatever the thread produces.
    func abandon() {
        lock.lock()
        defer { lock.unlock() }
        abandoned = true
        if case .success(let channel)? = outcome { channel.close() }
        outcome = nil
    }
}

/// Connects in progress, by the setup ID `connect` leaves in NCCL's handle.
/// IDs, not pointers, go into the handle: the handle came over the network,
/// and an ID this process never issued is refused instead of dereferenced.
enum ConnectSetups {
    private static let table = Mutex<[UInt64: PendingSetup]>([:])
    private static let nextID = Atomic<UInt64>(UInt64.random(in: 1...(UInt64.max >> 1)))

    static func start(_ setup: PendingSetup) -> UInt64 {
        let id = nextID.add(1, ordering: .relaxed).newValue
        table.withLock { $0[id] = setup }
        return id
    }

    static func find(_ id: UInt64) -> PendingSetup? { table.withLock { $0[id] } }

    static func finish(_ id: UInt64) { _ = table.withLock { $0.removeValue(forKey: id) } }
}

/// NCCL's listenComm: one route of the load's ``ProcessListener``. Its
/// connection is set up on the listener's accept threads; `accept` takes it.
final class ListenComm {
    let runtime: PluginRuntime
    let listener: ProcessListener
    let route: [UInt8]
    /// When NCCL's peer must have connected by (FABRICAUTH_SETUP_TIMEOUT after `listen`).
    let deadline: ContinuousClock.Instant
    var accepted = false

    init(runtime: PluginRuntime) throws(ChannelError) {
        self.runtime = runtime
        listener = try runtime.processListener()
        route = listener.register()
        deadline = .now + .seconds(runtime.settings.setupTimeoutSeconds)
    }

    var port: UInt16 { listener.port }

    /// NCCL closed it: nothing may arrive for it any more.
    func close() { listener.unregister(route) }
}
