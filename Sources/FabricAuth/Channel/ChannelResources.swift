#if canImport(Glibc)
import Glibc
#endif
import Verbs

/// The verbs resources of one authenticated queue pair: its PD, CQs, QP and
/// two registered rings of fixed-size slots (sends and receives).
///
/// Everything is allocated and registered here, once, so the data path posts
/// and polls without allocating. The QP is created without remote access
/// rights: the handshake and SEND/RECV traffic need none, and nothing on this
/// QP may touch memory remotely before the peer is authenticated (RDMA WRITE
/// and READ are opened later, through memory windows: RemoteAccess/).
///
/// Send-side accounting is by ticket: every signaled work request gets the
/// next ticket, and RC completes signaled requests in posting order, so
/// "ticket t is done" is "at least t completions were reaped". A send slot is
/// free again once the ticket of its last use is done.
final class ChannelResources {
    let pd: ProtectionDomain
    let sendCompletions: CompletionQueue
    let receiveCompletions: CompletionQueue
    let sendRing: MemoryRegion
    let receiveRing: MemoryRegion
    let slotSize: Int
    let sendDepth: Int
    let receiveDepth: Int

    /// Work request ids of sends carry this bit so a stray completion can't be
    /// mistaken for a receive slot.
    static let sendTag: UInt64 = 1 << 63
    /// Low bits of the ids of requests that use no slot (for diagnostics).
    static let writeTag: UInt64 = 1 << 32, readTag: UInt64 = 2 << 32, windowTag: UInt64 = 3 << 32

    private var nextSendSlot = 0
    /// The slot of the most recent send (tests read the frame back from it).
    private(set) var lastPostedSendSlot = 0
    /// Tickets of signaled send-queue requests posted and completed so far.
    private(set) var ticketsPosted: UInt64 = 0
    private(set) var ticketsCompleted: UInt64 = 0
    /// The ticket of each send slot's last use (0: never used).
    private var slotTicket: [UInt64]
    /// Windows bound over application memory (RemoteAccess/), allocated once.
    private(set) var windows: [MemoryWindow]

    init(context: Context, configuration: ChannelConfiguration) throws(ChannelError) {
        slotSize = configuration.slotSize
        sendDepth = configuration.sendDepth
        receiveDepth = configuration.receiveDepth
        slotTicket = [UInt64](repeating: 0, count: configuration.sendDepth)
        guard (1...Rendezvous.peerEntryLimit).contains(configuration.remoteAccessDepth) else {
            throw .invalidRequest("remoteAccessDepth \(configuration.remoteAccessDepth) is outside 1...\(Rendezvous.peerEntryLimit)")
        }
        do {
            pd = try context.makeProtectionDomain()
            // Signaled requests: one per send slot, one per outstanding READ,
            // one local invalidation at a time.
            sendCompletions = try CompletionQueue(context: context,
                capacity: sendDepth + configuration.remoteAccessDepth + 2)
            receiveCompletions = try CompletionQueue(context: context, capacity: receiveDepth + 1)
            sendRing = try pd.allocateRegion(bytes: slotSize * sendDepth, access: [])
            receiveRing = try pd.allocateRegion(bytes: slotSize * receiveDepth, access: .localWrite)
            // A window is only an object until bound: allocating them here
            // grants nothing, and keeps ibv_alloc_mw off the data path.
            var windows: [MemoryWindow] = []
            for _ in 0..<(2 * configuration.remoteAccessDepth) { windows.append(try pd.allocateWindow()) }
            self.windows = windows
        } catch {
            throw .verbs(error)
        }
    }

    /// Deallocates the windows. Must run before the QP is destroyed: rxe
    /// (Linux 6.1) holds a reference on the QP for every window bound to it,
    /// and ibv_destroy_qp then waits for it to time out (~50 s, measured).
    func releaseWindows() {
        windows = []
    }

    /// The QP this channel needs: RC, no remote access rights, no inline data
    /// (frames are read from the registered ring).
    func queuePairConfiguration(_ configuration: ChannelConfiguration) -> QueuePairConfiguration {
        var qp = QueuePairConfiguration(transport: .reliableConnection)
        qp.gidIndex = configuration.gidIndex
        // Per send slot one signaled SEND plus the unsignaled WRITE or bind in
        // front of it; plus outstanding READs and a local invalidation.
        qp.maxSendRequests = 2 * sendDepth + configuration.remoteAccessDepth + 4
        qp.maxReceiveRequests = receiveDepth
        qp.accessFlags = []
        qp.maxInlineData = 0
        return qp
    }

    func prepareQueuePair(configuration: ChannelConfiguration) throws(ChannelError) -> PreparedQueuePair {
        do {
            return try pd.makeQueuePair(sendCompletionQueue: sendCompletions, receiveCompletionQueue: receiveCompletions,
                configuration: queuePairConfiguration(configuration))
        } catch {
            throw .verbs(error)
        }
    }

    func receiveRequest(slot: Int) -> ReceiveRequest {
        ReceiveRequest(id: UInt64(slot), element: receiveRing.element(slot * slotSize..<(slot + 1) * slotSize))
    }

    var allReceiveRequests: [ReceiveRequest] { (0..<receiveDepth).map { receiveRequest(slot: $0) } }

    func receiveSlot(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: receiveRing.bytes[slot * slotSize..<(slot + 1) * slotSize])
    }

    /// The next send slot, once the send that last used it has completed.
    func acquireSendSlot(deadline: UInt64) throws(ChannelError) -> Int {
        let slot = nextSendSlot
        try waitFor(ticket: slotTicket[slot], deadline: deadline)
        nextSendSlot = (nextSendSlot + 1) % sendDepth
        return slot
    }

    func sendSlot(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: sendRing.bytes[slot * slotSize..<(slot + 1) * slotSize])
    }

    /// The SEND of `length` bytes of send slot `slot`, signaled, with the
    /// given operation (a SEND, or a SEND carrying an invalidation).
    func sendRequest(slot: Int, length: Int) -> SendRequest {
        SendRequest(id: Self.sendTag | UInt64(slot), operation: .send,
            element: sendRing.element(slot * slotSize..<slot * slotSize + length))
    }

    /// Posts `length` bytes of send slot `slot` as one signaled SEND.
    @discardableResult
    func postSend(slot: Int, length: Int, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        do { try qp.post(sendRequest(slot: slot, length: length)) } catch { throw .verbs(error) }
        return issueTicket(slot: slot)
    }

    /// Posts `first` (unsignaled: a WRITE or a bind) and then the signaled SEND
    /// of slot `slot` with one doorbell; returns the SEND's ticket, which is
    /// also done when `first` is (RC executes and completes in order).
    @discardableResult
    func postChain(_ first: SendRequest, thenSlot slot: Int, length: Int, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        var chain = (first, sendRequest(slot: slot, length: length))
        chain.0.flags = []
        let posted: Result<Void, VerbsError> = withUnsafeBytes(of: &chain) { raw in
            let requests = UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: SendRequest.self), count: 2)
            do throws(VerbsError) { try qp.post(chain: requests); return .success(()) } catch { return .failure(error) }
        }
        if case .failure(let error) = posted { throw .verbs(error) }
        return issueTicket(slot: slot)
    }

    /// Posts one signaled request that uses no slot (an RDMA READ, a local
    /// invalidation) and returns its ticket.
    func postSignaled(_ request: SendRequest, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        var r = request
        r.flags = .signaled
        do { try qp.post(r) } catch { throw .verbs(error) }
        return issueTicket(slot: nil)
    }

    /// Invalidates `window` with a signaled local invalidation; returns its ticket.
    func postInvalidate(_ window: MemoryWindow, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        do { try qp.invalidate(window, id: Self.sendTag | Self.windowTag, flags: .signaled) } catch { throw .verbs(error) }
        return issueTicket(slot: nil)
    }

    private func issueTicket(slot: Int?) -> UInt64 {
        ticketsPosted += 1
        if let slot {
            slotTicket[slot] = ticketsPosted
            lastPostedSendSlot = slot
        }
        return ticketsPosted
    }

    /// Whether the request with `ticket` has completed (reaps what is there).
    func isDone(ticket: UInt64) throws(ChannelError) -> Bool {
        if ticketsCompleted < ticket { try reapSends(wait: false, deadline: .max) }
        return ticketsCompleted >= ticket
    }

    /// Waits until the request with `ticket` has completed.
    func waitFor(ticket: UInt64, deadline: UInt64, what: @autoclosure () -> String = "send completion") throws(ChannelError) {
        while ticketsCompleted < ticket { try reapSends(wait: true, deadline: deadline, what: what()) }
    }

    /// Collects send completions; with `wait`, until at least one arrived.
    func reapSends(wait: Bool, deadline: UInt64, what: @autoclosure () -> String = "send completion") throws(ChannelError) {
        var mustWait = wait
        var idle = 0
        while ticketsCompleted < ticketsPosted {
            let completion: WorkCompletion?
            do { completion = try sendCompletions.pollOne() } catch { throw .verbs(error) }
            guard let wc = completion else {
                if !mustWait { return }
                try Self.idle(&idle, deadline: deadline, what: what())
                continue
            }
            ticketsCompleted += 1
            mustWait = false
            do { try wc.check() } catch { throw .verbs(error) }
        }
    }

    /// Waits for every posted send to complete (used before tearing down or
    /// after the last handshake message).
    func drainSends(deadline: UInt64) throws(ChannelError) {
        try waitFor(ticket: ticketsPosted, deadline: deadline)
    }

    /// Polls one receive completion without waiting.
    func pollReceive() throws(ChannelError) -> (slot: Int, length: Int)? {
        let completion: WorkCompletion?
        do { completion = try receiveCompletions.pollOne() } catch { throw .verbs(error) }
        guard let wc = completion else { return nil }
        do { try wc.check() } catch { throw .verbs(error) }
        guard wc.id < UInt64(receiveDepth) else {
            throw .protocolViolation("receive completion with unknown id \(wc.id)")
        }
        return (Int(wc.id), Int(wc.byteLength))
    }

    /// Waits for one receive completion and returns its slot and length.
    func nextReceive(deadline: UInt64) throws(ChannelError) -> (slot: Int, length: Int) {
        var idle = 0
        while true {
            let completion: WorkCompletion?
            do { completion = try receiveCompletions.pollOne() } catch { throw .verbs(error) }
            if let wc = completion {
                do { try wc.check() } catch { throw .verbs(error) }
                guard wc.id < UInt64(receiveDepth) else {
                    throw .protocolViolation("receive completion with unknown id \(wc.id)")
                }
                return (Int(wc.id), Int(wc.byteLength))
            }
            try Self.idle(&idle, deadline: deadline, what: "message from the peer")
        }
    }

    /// Busy-polls for a while, then backs off so an emulated or shared CPU is
    /// not burned; checks the deadline every few hundred polls.
    static func idle(_ count: inout Int, deadline: UInt64, what: @autoclosure () -> String) throws(ChannelError) {
        count += 1
        if count & 255 == 0 {
            if ChannelClock.monotonicNanoseconds() > deadline { throw .timedOut(what()) }
            if count > 4096 { usleep(50) } else { sched_yield() }
        }
    }
}
