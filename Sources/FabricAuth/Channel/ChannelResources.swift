#if canImport(Glibc)
import Glibc
#endif
import Handshake
import Verbs

/// The verbs resources of one authenticated queue pair: its PD, CQs, QP and
/// two registered rings of fixed-size slots (sends and receives).
///
/// Everything is allocated and registered here, once, so the data path posts
/// and polls without allocating; only memory windows wait for their first use
/// (`window(at:)`), then stay. The QP is created without remote access
/// rights: the handshake and SEND/RECV traffic need none, and nothing on this
/// QP may touch memory remotely before the peer is authenticated (RDMA WRITE
/// and READ are opened later, through memory windows: RemoteAccess/).
///
/// Send-side accounting is by ticket: every signaled work request gets the
/// next ticket, and RC completes signaled requests in posting order, so
/// "ticket t is done" is "at least t completions were reaped". A send slot is
/// free again once the ticket of its last use is done.
///
/// Slots are sized for the largest application message
/// (`ChannelConfiguration.slotSize`), not for the handshake: a channel that
/// sends only control messages (NCCL's plug-in) keeps hundreds of slots of
/// a few hundred bytes for its 32 outstanding requests. An RC receive queue
/// fills its receives strictly in posting order, so small and large receive
/// slots can't be mixed by message kind; instead, when slots are smaller
/// than a handshake message, the first `handshakeReceives` receives posted
/// (before the QP can receive anything) are separate buffers of
/// `HandshakeLimits.maxMessageSize`, which take the peer's handshake
/// messages, and one more such buffer carries ours. A shared receive queue
/// would also separate them but needs an SRQ per size and a QP per SRQ;
/// this costs three 24 KiB buffers per channel.
final class ChannelResources {
    let pd: ProtectionDomain
    let sendCompletions: CompletionQueue
    let receiveCompletions: CompletionQueue
    let sendRing: MemoryRegion
    let receiveRing: MemoryRegion
    let slotSize: Int
    let sendDepth: Int
    let receiveDepth: Int
    /// Handshake buffers when slots are too small for handshake messages:
    /// `handshakeReceives` receive buffers (ids `receiveDepth...`), then one
    /// send buffer; nil when slots hold them.
    let handshakeRegion: MemoryRegion?
    /// The ticket of the last send from the handshake send buffer.
    private var handshakeSendTicket: UInt64 = 0

    /// Handshake messages one side receives: M1 and M3 at the responder, M2
    /// and M4 (or an alert) at the initiator; R1 and R3, or R2, when resuming.
    static let handshakeReceives = 2
    static let handshakeBufferSize = HandshakeLimits.maxMessageSize

    /// Work request ids of sends carry this bit so a stray completion can't be
    /// mistaken for a receive slot.
    static let sendTag: UInt64 = 1 << 63
    /// Low bits of the ids of requests that use no slot (for diagnostics).
    static let writeTag: UInt64 = 1 << 32, readTag: UInt64 = 2 << 32, windowTag: UInt64 = 3 << 32
    static let handshakeTag: UInt64 = 4 << 32

    private var nextSendSlot = 0
    /// The slot of the most recent send (tests read the frame back from it).
    private(set) var lastPostedSendSlot = 0
    /// Tickets of signaled send-queue requests posted and completed so far.
    private(set) var ticketsPosted: UInt64 = 0
    private(set) var ticketsCompleted: UInt64 = 0
    /// The ticket of each send slot's last use (0: never used).
    private var slotTicket: [UInt64]
    /// Windows bound over application memory (RemoteAccess/), by
    /// `WindowID.position` (the WRITE targets, then the READ offers), each
    /// allocated at its first use and kept: the rendezvous takes the lowest
    /// free window, so a channel holds as many as it ever had bound at once,
    /// not the hundreds its limits allow (NCCL's plug-in allows 288; on rxe
    /// allocating them took most of a channel's setup, docs/performance.md).
    private var windows: [MemoryWindow?]
    /// Set once the windows are released: none is allocated after.
    private var windowsReleased = false
    /// Binds and invalidations wait until every earlier send is acknowledged
    /// (`ChannelConfiguration.windowOperationsAwaitAcknowledgements`).
    let windowOperationsAwaitAcknowledgements: Bool

    init(context: Context, configuration: ChannelConfiguration) throws(ChannelError) {
        try configuration.validate()
        if let chosen = configuration.windowOperationsAwaitAcknowledgements {
            windowOperationsAwaitAcknowledgements = chosen
        } else if configuration.remoteAccessDepth == 0 {
            windowOperationsAwaitAcknowledgements = false  // no windows
        } else {
            windowOperationsAwaitAcknowledgements = try ChannelError.lowering { try context.queryDevice() }.isSoftRoCE
        }
        slotSize = configuration.slotSize
        sendDepth = configuration.sendDepth
        receiveDepth = configuration.receiveDepth
        slotTicket = [UInt64](repeating: 0, count: configuration.sendDepth)
        let receiveDepth = configuration.receiveDepth, sendDepth = configuration.sendDepth, slotSize = configuration.slotSize
        let handshakeBuffers = configuration.needsHandshakeBuffers
        windows = Array(repeating: nil, count: configuration.writeTargets + configuration.remoteAccessDepth)
        (pd, sendCompletions, receiveCompletions, sendRing, receiveRing, handshakeRegion) =
            try ChannelError.lowering { () throws(VerbsError) in
                let pd = try context.makeProtectionDomain()
                // Signaled requests: one per send slot, one per outstanding
                // READ, one local invalidation at a time, one handshake send.
                let sendCompletions = try CompletionQueue(context: context,
                    capacity: sendDepth + configuration.remoteAccessDepth + 3)
                let receiveCompletions = try CompletionQueue(context: context,
                    capacity: receiveDepth + (handshakeBuffers ? Self.handshakeReceives : 0) + 1)
                let sendRing = try pd.allocateRegion(bytes: slotSize * sendDepth, access: [])
                let receiveRing = try pd.allocateRegion(bytes: slotSize * receiveDepth, access: .localWrite)
                let handshakeRegion = handshakeBuffers
                    ? try pd.allocateRegion(bytes: Self.handshakeBufferSize * (Self.handshakeReceives + 1), access: .localWrite)
                    : nil
                return (pd, sendCompletions, receiveCompletions, sendRing, receiveRing, handshakeRegion)
            }
    }

    /// Receive buffers posted: the slots, and the handshake buffers if any.
    var receiveCount: Int { receiveDepth + (handshakeRegion == nil ? 0 : Self.handshakeReceives) }

    /// Deallocates the windows. Must run before the QP is destroyed: rxe
    /// (Linux 6.1) holds a reference on the QP for every window bound to it,
    /// and ibv_destroy_qp then waits for it to time out (~50 s, measured).
    func releaseWindows() {
        windowsReleased = true
        for i in windows.indices { windows[i] = nil }
    }

    /// The window at `position` (`WindowID.position`), allocated now if it
    /// never was: a window is only an object until bound, so allocating it
    /// grants nothing. Its first use costs one `ibv_alloc_mw`, later uses none.
    func window(at position: Int) throws(ChannelError) -> MemoryWindow {
        if let window = windows[position] { return window }
        guard !windowsReleased else { throw .closed }
        let window = try ChannelError.lowering { try pd.allocateWindow() }
        windows[position] = window
        return window
    }

    /// The window at `position` if it was ever allocated (a window that never
    /// was has never been bound).
    func allocatedWindow(at position: Int) -> MemoryWindow? { windows[position] }

    /// How many windows this channel has allocated.
    var allocatedWindowCount: Int { windows.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

    /// The QP this channel needs: RC, no remote access rights, no inline data
    /// (frames are read from the registered ring).
    func queuePairConfiguration(_ configuration: ChannelConfiguration) -> QueuePairConfiguration {
        var qp = QueuePairConfiguration(transport: .reliableConnection)
        qp.gidIndex = configuration.gidIndex
        // Per send slot one signaled SEND plus the unsignaled WRITE or bind in
        // front of it; plus outstanding READs and a local invalidation.
        qp.maxSendRequests = 2 * sendDepth + configuration.remoteAccessDepth + 4
        qp.maxReceiveRequests = receiveCount
        qp.accessFlags = []
        qp.maxInlineData = 0
        return qp
    }

    func prepareQueuePair(configuration: ChannelConfiguration) throws(ChannelError) -> PreparedQueuePair {
        try ChannelError.lowering {
            try pd.makeQueuePair(sendCompletionQueue: sendCompletions, receiveCompletionQueue: receiveCompletions,
                configuration: queuePairConfiguration(configuration))
        }
    }

    /// The receive of slot `slot`: ids below `receiveDepth` are slots of the
    /// ring, the next `handshakeReceives` the handshake buffers. A handshake
    /// buffer is reposted like a slot once used; it then takes data frames,
    /// which the receive pipeline refuses when longer than a slot.
    func receiveRequest(slot: Int) -> ReceiveRequest {
        if slot < receiveDepth {
            return ReceiveRequest(id: UInt64(slot), element: receiveRing.element(slot * slotSize..<(slot + 1) * slotSize))
        }
        let start = (slot - receiveDepth) * Self.handshakeBufferSize
        return ReceiveRequest(id: UInt64(slot), element: handshakeRegion!.element(start..<(start + Self.handshakeBufferSize)))
    }

    /// Every receive, handshake buffers first: posted before the QP reaches
    /// RTR, so the peer's first messages, its handshake, land in them.
    var allReceiveRequests: [ReceiveRequest] {
        (receiveDepth..<receiveCount).map { receiveRequest(slot: $0) } + (0..<receiveDepth).map { receiveRequest(slot: $0) }
    }

    func receiveSlot(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        if slot < receiveDepth {
            return UnsafeMutableRawBufferPointer(rebasing: receiveRing.bytes[slot * slotSize..<(slot + 1) * slotSize])
        }
        let start = (slot - receiveDepth) * Self.handshakeBufferSize
        return UnsafeMutableRawBufferPointer(rebasing: handshakeRegion!.bytes[start..<(start + Self.handshakeBufferSize)])
    }

    /// Sends one handshake message of up to `HandshakeLimits.maxMessageSize`
    /// bytes: from a send slot when slots hold it, else from the handshake
    /// send buffer once its previous send completed (the handshake sends one
    /// message per round trip, so this never waits in practice).
    func postHandshakeMessage(_ bytes: [UInt8], on qp: QueuePair, deadline: UInt64) throws(ChannelError) {
        precondition(bytes.count <= Self.handshakeBufferSize, "handshake message larger than HandshakeLimits.maxMessageSize")
        guard let region = handshakeRegion else {
            let slot = try acquireSendSlot(deadline: deadline)
            let buffer = sendSlot(slot)
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
            try postSend(slot: slot, length: bytes.count, on: qp)
            return
        }
        try waitFor(ticket: handshakeSendTicket, deadline: deadline)
        let start = Self.handshakeReceives * Self.handshakeBufferSize
        let buffer = UnsafeMutableRawBufferPointer(rebasing: region.bytes[start..<(start + Self.handshakeBufferSize)])
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        let send = SendRequest(id: Self.sendTag | Self.handshakeTag, operation: .send,
            element: region.element(start..<(start + bytes.count)))
        handshakeSendTicket = try postSignaled(send, on: qp)
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
        try ChannelError.lowering { try qp.post(sendRequest(slot: slot, length: length)) }
        return issueTicket(slot: slot)
    }

    /// Posts `first` (unsignaled: a WRITE or a bind) and then the signaled SEND
    /// of slot `slot` with one doorbell; returns the SEND's ticket, which is
    /// also done when `first` is (RC executes and completes in order).
    @discardableResult
    func postChain(_ first: SendRequest, thenSlot slot: Int, length: Int, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        var chain = (first, sendRequest(slot: slot, length: length))
        chain.0.flags = []
        try ChannelError.lowering {
            try withUnsafeBytes(of: &chain) { raw in
                let requests = UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: SendRequest.self), count: 2)
                try qp.post(chain: requests)
            }
        }
        return issueTicket(slot: slot)
    }

    /// Posts one signaled request that uses no slot (an RDMA READ, a local
    /// invalidation) and returns its ticket.
    func postSignaled(_ request: SendRequest, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        var r = request
        r.flags = .signaled
        try ChannelError.lowering { try qp.post(r) }
        return issueTicket(slot: nil)
    }

    /// Before a bind or an invalidation: with `windowOperationsAwaitAcknowledgements`,
    /// waits until every send posted so far has completed, so no
    /// retransmission can rewind the send queue to before the local operation.
    func prepareWindowOperation(deadline: UInt64) throws(ChannelError) {
        guard windowOperationsAwaitAcknowledgements else { return }
        try waitFor(ticket: ticketsPosted, deadline: deadline,
            what: "the acknowledgement of earlier sends before a window operation")
    }

    /// Whether the next `count` send slots are free now (reaps completions,
    /// never waits). Slots are taken in ring order, so the last of them was
    /// used most recently: it is free only once the others are.
    func sendSlotsFree(_ count: Int) throws(ChannelError) -> Bool {
        precondition((1...sendDepth).contains(count), "\(count) send slots of \(sendDepth)")
        return try isDone(ticket: slotTicket[(nextSendSlot + count - 1) % sendDepth])
    }

    /// Whether ``prepareWindowOperation(deadline:)`` would return now without waiting.
    func windowOperationReady() throws(ChannelError) -> Bool {
        guard windowOperationsAwaitAcknowledgements else { return true }
        return try isDone(ticket: ticketsPosted)
    }

    /// Invalidates `window` with a signaled local invalidation; returns its ticket.
    func postInvalidate(_ window: MemoryWindow, on qp: QueuePair) throws(ChannelError) -> UInt64 {
        try ChannelError.lowering { try qp.invalidate(window, id: Self.sendTag | Self.windowTag, flags: .signaled) }
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
            guard let wc = try ChannelError.lowering({ try sendCompletions.pollOne() }) else {
                if !mustWait { return }
                try Self.idle(&idle, deadline: deadline, what: what())
                continue
            }
            ticketsCompleted += 1
            mustWait = false
            try ChannelError.lowering { try wc.check() }
        }
    }

    /// Waits for every posted send to complete (used before tearing down or
    /// after the last handshake message).
    func drainSends(deadline: UInt64) throws(ChannelError) {
        try waitFor(ticket: ticketsPosted, deadline: deadline)
    }

    /// Polls one receive completion without waiting.
    func pollReceive() throws(ChannelError) -> (slot: Int, length: Int)? {
        guard let wc = try ChannelError.lowering({ try receiveCompletions.pollOne() }) else { return nil }
        try ChannelError.lowering { try wc.check() }
        guard wc.id < UInt64(receiveCount) else {
            throw .protocolViolation("receive completion with unknown id \(wc.id)")
        }
        return (Int(wc.id), Int(wc.byteLength))
    }

    /// Waits for one receive completion and returns its slot and length.
    func nextReceive(deadline: UInt64) throws(ChannelError) -> (slot: Int, length: Int) {
        var idle = 0
        while true {
            if let wc = try ChannelError.lowering({ try receiveCompletions.pollOne() }) {
                try ChannelError.lowering { try wc.check() }
                guard wc.id < UInt64(receiveCount) else {
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
