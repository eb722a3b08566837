/// The RDMA WRITE/READ rendezvous of one channel as a machine without I/O,
/// shaped like `HandshakeMachine`: application calls, verified control
/// messages, completions and the time come in as method calls; what the
/// channel must do comes out as return values (bind this window, send this
/// grant, invalidate that window, verify these bytes, deliver or fail that
/// request). It never touches verbs or crypto, so every path is tested on
/// the host (Tests/FabricAuthTests/RendezvousScenarioTests.swift).
///
/// WRITE (receiver grants, sender writes):
///
///     irecv:   openReceive -> reserved --bound(key)--> granted [send grant]
///     notice:  granted --noticeArrived--> mustClose --nextWindowToClose-->
///              closing --windowClosed--> verifying [verify bytes]
///              --writeVerified--> written | --writeRejected--> rejected
///     test:    all targets written -> completed(sizes); then free
///
/// READ (owner offers, reader reads):
///
///     owner:   openOffer -> reserved --offerBound(key)--> offered [send offer]
///              --peerReadDone--> mustClose -> closing --windowClosed--> served
///     reader:  takeOffer/startRead -> reading --readCompleted--> verifying
///              --readVerified--> done [send READ done] | --readRejected--> failed
///
/// Cancel and expiry move a request's bound windows to `mustClose`; the
/// request reports its failure only after every one of them is closed, so
/// no window stays bound after an error (and a failure of one buffer of a
/// grouped receive closes its siblings the same way). Not thread-safe: the
/// channel that owns it is single-owner.
struct Rendezvous {
    /// Most buffers in one grouped receive (NCCL_NET_MAX_RECVS is 8).
    static let maxBuffersPerReceive = ReceiveSizes.capacity
    /// Default bound on the peer's unused grants (and offers): the channel
    /// keeps a 56-byte record per offer, allocated up front.
    static let peerEntryLimit = 256

    struct Limits: Sendable {
        /// Outstanding requests of each kind: receives, offers and reads.
        var requests: Int
        /// WRITE target windows; a grouped receive takes one per buffer.
        var targets: Int
        /// Grants, and offers, the peer may have outstanding towards us.
        var peerEntries = Rendezvous.peerEntryLimit
    }

    /// How a bound window is being shut.
    enum Closing: Equatable {
        /// A WRITE notice claimed this many bytes: verify once closed.
        case notice(length: Int)
        /// The owner's reader is done (READ offers).
        case readDone
        /// Cancelled, expired, or a sibling buffer failed: no data.
        case abort
    }

    enum TargetPhase: Equatable {
        case free
        case reserved
        case granted
        case mustClose(Closing)
        case closing(Closing)
        case verifying
        case written(Int)
        case rejected
        case aborted
    }

    /// One WRITE target window and the buffer it is bound over.
    struct Target {
        var phase = TargetPhase.free
        var generation: UInt32 = 0
        var request = 0
        var key = WindowKey(rkey: 0, address: 0)
        var capacity = 0
        var tag: UInt32 = 0
    }

    enum RequestPhase: Equatable {
        case free
        case open
        /// Failed; waits until its windows are closed before reporting.
        case failing(RequestFailure)
    }

    /// One (grouped) receive: `count` targets listed at `targetList[index * 8...]`.
    struct Receive {
        var phase = RequestPhase.free
        var generation: UInt32 = 0
        var count = 0
        var deadline: UInt64?
    }

    enum OfferPhase: Equatable {
        case free
        case reserved
        case offered
        case mustClose(Closing)
        case closing(Closing)
        case served
        case aborted
    }

    /// One READ offer window and the data it is bound over.
    struct Offer {
        var phase = OfferPhase.free
        var generation: UInt32 = 0
        var failure: RequestFailure?
        var length = 0
        var deadline: UInt64?
        /// The generation of the last offer here that was cancelled or
        /// expired: its reader's READ done may still be on the way.
        var abandoned: UInt32?
    }

    enum ReadPhase: Equatable {
        case free
        case reading
        case verifying
        case done
        case failed(RequestFailure)
    }

    /// One RDMA READ of a peer offer.
    struct Read {
        var phase = ReadPhase.free
        var generation: UInt32 = 0
        var offerIndex: UInt32 = 0
        var offerGeneration: UInt32 = 0
        var length = 0
    }

    let limits: Limits
    private(set) var isClosed = false
    var targets: [Target]
    var receives: [Receive]
    var targetList: [Int]
    var offers: [Offer]
    var reads: [Read]
    var peerGrants: PeerQueue<PeerGrant>
    var peerOffers: PeerQueue<PeerOffer>
    /// Windows in `mustClose`, so the progress loop skips the scan when none.
    var closesPending = 0

    init(limits: Limits) {
        // 0 requests and targets: a SEND-only channel, every call refused.
        precondition(limits.requests >= 0 && limits.targets >= 0 && limits.peerEntries > 0)
        self.limits = limits
        targets = Array(repeating: Target(), count: limits.targets)
        receives = Array(repeating: Receive(), count: limits.requests)
        targetList = Array(repeating: 0, count: limits.requests * Self.maxBuffersPerReceive)
        offers = Array(repeating: Offer(), count: limits.requests)
        reads = Array(repeating: Read(), count: limits.requests)
        peerGrants = PeerQueue(capacity: limits.peerEntries)
        peerOffers = PeerQueue(capacity: limits.peerEntries)
    }

    // MARK: Windows

    /// The next bound window the channel must invalidate (and report with
    /// `windowClosed`), or nil when none.
    mutating func nextWindowToClose() -> WindowID? {
        guard closesPending > 0 else { return nil }
        for i in targets.indices {
            if case .mustClose(let how) = targets[i].phase {
                targets[i].phase = .closing(how)
                closesPending -= 1
                return .writeTarget(i)
            }
        }
        for i in offers.indices {
            if case .mustClose(let how) = offers[i].phase {
                offers[i].phase = .closing(how)
                closesPending -= 1
                return .readOffer(i)
            }
        }
        preconditionFailure("closesPending is \(closesPending) but no window must close")
    }

    /// The invalidation of `window` completed: nothing can reach its memory now.
    mutating func windowClosed(_ window: WindowID) -> WindowClosedAction {
        guard !isClosed else { return .none }
        switch window.part {
        case .writeTarget:
            guard case .closing(let how) = targets[window.index].phase else {
                preconditionFailure("\(window) closed in phase \(targets[window.index].phase)")
            }
            if case .notice(let length) = how {
                targets[window.index].phase = .verifying
                return .verifyWrite(target: window.index, length: length)
            }
            targets[window.index].phase = .aborted
            return .none
        case .readOffer:
            guard case .closing(let how) = offers[window.index].phase else {
                preconditionFailure("\(window) closed in phase \(offers[window.index].phase)")
            }
            offers[window.index].phase = how == .readDone ? .served : .aborted
            return .none
        }
    }

    mutating func mustClose(target t: Int, _ how: Closing) {
        targets[t].phase = .mustClose(how)
        closesPending += 1
    }

    mutating func mustClose(offer o: Int, _ how: Closing) {
        offers[o].phase = .mustClose(how)
        closesPending += 1
    }

    // MARK: Time and teardown

    /// Fails every receive and offer whose deadline is at or before `now`;
    /// their windows join those to close.
    mutating func expire(now: UInt64) {
        guard !isClosed else { return }
        for r in receives.indices where receives[r].phase == .open {
            if let d = receives[r].deadline, d <= now { fail(receive: r, .timedOut) }
        }
        for o in offers.indices where offers[o].phase == .offered {
            if let d = offers[o].deadline, d <= now {
                offers[o].failure = .timedOut
                mustClose(offer: o, .abort)
            }
        }
    }

    /// The channel closed (a fatal error or `close()`): every request fails
    /// with `.closed` and nothing is bound any more (the QP is in ERROR or
    /// gone, its windows with it). Later calls are refused.
    mutating func close() {
        isClosed = true
        closesPending = 0
        for i in targets.indices { targets[i].phase = .free }
        for i in receives.indices { receives[i].phase = .free }
        for i in offers.indices { offers[i].phase = .free }
        for i in reads.indices { reads[i].phase = .free }
        peerGrants.removeAll()
        peerOffers.removeAll()
    }
}
