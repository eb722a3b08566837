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
/// QP may touch memory remotely before the peer is authenticated.
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

    private var nextSendSlot = 0
    /// The slot of the most recent send (tests read the frame back from it).
    private(set) var lastPostedSendSlot = 0
    private var sendsInFlight = 0

    init(context: Context, configuration: ChannelConfiguration) throws(ChannelError) {
        slotSize = configuration.slotSize
        sendDepth = configuration.sendDepth
        receiveDepth = configuration.receiveDepth
        do {
            pd = try context.makeProtectionDomain()
            sendCompletions = try CompletionQueue(context: context, capacity: sendDepth + 1)
            receiveCompletions = try CompletionQueue(context: context, capacity: receiveDepth + 1)
            sendRing = try pd.allocateRegion(bytes: slotSize * sendDepth, access: [])
            receiveRing = try pd.allocateRegion(bytes: slotSize * receiveDepth, access: .localWrite)
        } catch {
            throw .verbs(error)
        }
    }

    /// The QP this channel needs: RC, no remote access rights, no inline data
    /// (frames are read from the registered ring).
    func queuePairConfiguration(_ configuration: ChannelConfiguration) -> QueuePairConfiguration {
        var qp = QueuePairConfiguration(transport: .reliableConnection)
        qp.gidIndex = configuration.gidIndex
        qp.maxSendRequests = sendDepth + 4  // + alerts and invalidations
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

    /// A free send slot, waiting for the oldest send to complete when all are in flight.
    func acquireSendSlot(deadline: UInt64) throws(ChannelError) -> Int {
        try reapSends(wait: sendsInFlight == sendDepth, deadline: deadline)
        let slot = nextSendSlot
        nextSendSlot = (nextSendSlot + 1) % sendDepth
        return slot
    }

    func sendSlot(_ slot: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: sendRing.bytes[slot * slotSize..<(slot + 1) * slotSize])
    }

    /// Posts `length` bytes of send slot `slot` as one signaled SEND.
    func postSend(slot: Int, length: Int, on qp: QueuePair) throws(ChannelError) {
        let request = SendRequest(id: Self.sendTag | UInt64(slot), operation: .send,
            element: sendRing.element(slot * slotSize..<slot * slotSize + length))
        do { try qp.post(request) } catch { throw .verbs(error) }
        sendsInFlight += 1
        lastPostedSendSlot = slot
    }

    /// Collects send completions; with `wait`, until at least one arrived.
    /// RC completes sends in order, so slots free up in the order they were used.
    func reapSends(wait: Bool, deadline: UInt64) throws(ChannelError) {
        var mustWait = wait
        var idle = 0
        while sendsInFlight > 0 {
            let completion: WorkCompletion?
            do { completion = try sendCompletions.pollOne() } catch { throw .verbs(error) }
            guard let wc = completion else {
                if !mustWait { return }
                try Self.idle(&idle, deadline: deadline, what: "send completion")
                continue
            }
            sendsInFlight -= 1
            mustWait = false
            do { try wc.check() } catch { throw .verbs(error) }
        }
    }

    /// Waits for every posted send to complete (used before tearing down or
    /// after the last handshake message).
    func drainSends(deadline: UInt64) throws(ChannelError) {
        while sendsInFlight > 0 { try reapSends(wait: true, deadline: deadline) }
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
    private static func idle(_ count: inout Int, deadline: UInt64, what: String) throws(ChannelError) {
        count += 1
        if count & 255 == 0 {
            if ChannelClock.monotonicNanoseconds() > deadline { throw .timedOut(what) }
            if count > 4096 { usleep(50) } else { sched_yield() }
        }
    }
}
