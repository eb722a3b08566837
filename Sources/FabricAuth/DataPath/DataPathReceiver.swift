import Handshake
/// A frame that verified. `payload` points into the caller's frame buffer and
/// is valid as long as that buffer is.
public struct OpenedMessage {
    public let header: FrameHeader
    public let payload: UnsafeRawBufferPointer
}

/// What to do after a rejection.
public enum RejectAction: Sendable, Equatable {
    /// FailurePolicy.fatal: the receiver is closed; tear the QP down.
    case tearDown
    /// FailurePolicy.dropAndCount: the frame is dropped; carry on.
    case drop
}

/// The outcome of `open`. A rejected frame is never delivered.
public enum OpenResult {
    case delivered(OpenedMessage)
    case rejected(RejectReason, RejectAction)

    public var isDelivered: Bool {
        if case .delivered = self { return true }
        return false
    }

    public var rejectReason: RejectReason? {
        if case .rejected(let reason, _) = self { return reason }
        return nil
    }
}

/// The outcome of admitting an offered READ's header.
enum AdmittedRead {
    case admitted(EpochKey)
    case refused(RejectReason)
}

/// One epoch's receive state: its key and its replay window.
struct ReceiveEpoch {
    let key: EpochKey
    var window = ReplayWindow()
    var epoch: UInt32 { key.epoch }
}

/// The receiving half of one direction of one queue pair.
///
/// Epochs: the receiver holds the current epoch, the previous one for a grace
/// window (bounded in time and in messages, so frames the peer sealed just
/// before it rekeyed and that arrive reordered still verify), and the next one
/// precomputed, so the first authentic frame of the peer's new epoch is
/// verified without deriving keys on the data path and promotes it. A frame of
/// any older epoch, or of the previous one after its grace, is `.retiredEpoch`;
/// its key has been wiped.
public struct DataPathReceiver: ~Copyable {
    public let suite: CipherSuite
    /// The direction frames arriving here travel in (the peer's sending direction).
    public let direction: Direction
    /// This queue pair's number; frames must name it.
    public let localQPN: UInt32
    public let configuration: DataPathConfiguration

    private var current: ReceiveEpoch
    private var previous: ReceiveEpoch?
    /// When the previous epoch's grace ends; .max while there is none, so
    /// the per-frame check is one comparison and never touches `previous`
    /// (testing the optional ReceiveEpoch, 272 bytes, on every frame cost
    /// about 25 ns per detached open in DataPathBenchmark).
    private var previousDeadline: UInt64 = .max
    private var previousMessagesLeft: UInt64 = 0
    private var next: EpochKey?
    /// secret of the `next` epoch (to derive the one after); nil at maxEpoch.
    private var nextSecret: TrafficSecret?
    private var closed = false
    public private(set) var metrics = DataPathMetrics()

    public init(
        trafficSecret: UnsafeRawBufferPointer, suite: CipherSuite, direction: Direction,
        localQPN: UInt32, configuration: DataPathConfiguration = .init(), now: UInt64
    ) throws(DataPathError) {
        try configuration.validate()
        // Build everything in locals first: a ~Copyable struct's init can't
        // throw with some stored properties set and others not.
        let secret0 = try TrafficSecret(copying: trafficSecret)
        let key0 = try EpochKey(suite: suite, engine: configuration.macEngine, epoch: 0, secret: secret0)
        var key1: EpochKey? = nil
        var secret1: TrafficSecret? = nil
        if configuration.maxEpoch > 0 {
            let s1 = secret0.next()
            key1 = try EpochKey(suite: suite, engine: key0.engine, epoch: 1, secret: s1)
            secret1 = s1
        }
        secret0.wipe()
        self.current = ReceiveEpoch(key: key0)
        self.next = key1
        self.nextSecret = secret1
        self.suite = suite
        self.direction = direction
        self.localQPN = localQPN
        self.configuration = configuration
        self.metrics.macEngine = key0.engine
    }

    /// The newest epoch verified so far.
    public var epoch: UInt32 { current.epoch }
    /// Whether a fatal rejection closed this receiver.
    public var isClosed: Bool { closed }
    /// Whether the previous epoch is still accepted.
    public var hasPreviousEpoch: Bool { previous != nil }

    /// Checks and verifies `frame` (header || payload || tag, exactly as
    /// received) and delivers it only if authentic and fresh. A control
    /// frame's payload (`opcode.isEncrypted`) is decrypted in place, only
    /// after its tag verified: the delivered payload is the plaintext, and a
    /// rejected frame's bytes are left as they arrived. Mutable because of
    /// that: pass the receive slot itself. No allocation.
    public mutating func open(frame: UnsafeMutableRawBufferPointer, now: UInt64) -> OpenResult {
        if closed { return reject(.sessionClosed) }
        if now >= previousDeadline { retirePrevious() }

        // 1. Structure of the unauthenticated header (cheap, before any crypto).
        guard frame.count >= DataPathLimits.frameOverhead else { return reject(.truncated) }
        let base = frame.baseAddress!
        guard let header = FrameHeader.decode(from: base), header.suite == suite else {
            return reject(.malformedHeader)
        }
        guard FrameHeader.directionByte(at: base) == direction.rawValue else {
            return reject(.wrongDirection)
        }
        guard header.qpn == localQPN else { return reject(.wrongQPN) }
        let length = Int(header.length)
        guard length <= configuration.maxPayloadBytes else { return reject(.oversized) }
        let expected = DataPathLimits.frameOverhead + length
        guard frame.count >= expected else { return reject(.truncated) }
        guard frame.count == expected else { return reject(.oversized) }
        let payload = UnsafeRawBufferPointer(start: base + DataPathLimits.headerSize, count: length)
        if header.opcode.isEncrypted {
            // The rendezvous messages are at most 72 bytes; a longer one is
            // refused before any crypto (and the AEAD's stack buffer is this size).
            guard length <= DataPathLimits.maxControlPayloadBytes else { return reject(.oversized) }
            return authenticate(header, payload: payload, now: now, layout: .encrypted(base))
        }
        return authenticate(header, payload: payload, now: now, layout: .contiguous(UnsafeRawPointer(base)))
    }

    /// Checks and verifies a detached message (EpochKey.computeDetachedTag):
    /// the 40 header bytes and the tag as the peer sent them (an RDMA WRITE
    /// notice) or as rebuilt from its offer (an RDMA READ), and the payload
    /// where the RDMA operation placed it. Same checks, replay window and
    /// counters as `open`; the payload is delivered only if authentic. No
    /// allocation.
    public mutating func openDetached(
        header headerBytes: UnsafeRawPointer, payload: UnsafeRawBufferPointer, tag: UnsafeRawPointer, now: UInt64
    ) -> OpenResult {
        if closed { return reject(.sessionClosed) }
        if now >= previousDeadline { retirePrevious() }
        guard let header = FrameHeader.decode(from: headerBytes), header.suite == suite,
            header.opcode.isDetached
        else { return reject(.malformedHeader) }
        guard FrameHeader.directionByte(at: headerBytes) == direction.rawValue else {
            return reject(.wrongDirection)
        }
        guard header.qpn == localQPN else { return reject(.wrongQPN) }
        let length = Int(header.length)
        guard length <= configuration.maxPayloadBytes else { return reject(.oversized) }
        guard payload.count >= length else { return reject(.truncated) }
        guard payload.count == length else { return reject(.oversized) }
        return authenticate(header, payload: payload, now: now, layout: .detached(headerBytes, tag))
    }

    /// Where the tag and header bytes are.
    private enum Layout {
        /// header || payload || tag in one buffer starting here.
        case contiguous(UnsafeRawPointer)
        /// header bytes and tag apart from the payload.
        case detached(UnsafeRawPointer, UnsafeRawPointer)
        /// header || ciphertext || tag in one buffer starting here; the
        /// ciphertext is replaced by its plaintext once the tag verified.
        case encrypted(UnsafeMutableRawPointer)
    }

    /// Steps 2 to 5 of the pipeline, shared by both layouts.
    @inline(__always)
    private mutating func authenticate(
        _ header: FrameHeader, payload: UnsafeRawBufferPointer, now: UInt64, layout: Layout
    ) -> OpenResult {
        let length = payload.count
        let seq = header.sequence
        guard seq < configuration.rejectAfterMessages else { return reject(.sequenceLimit) }

        // 2. Which epoch.
        enum Slot { case current, previous, next }
        let slot: Slot
        let e = header.epoch
        if e == current.epoch {
            slot = .current
        } else if let p = previous, e == p.epoch {
            guard previousMessagesLeft > 0 else {
                retirePrevious()
                return reject(.retiredEpoch)
            }
            slot = .previous
        } else if let n = next, e == n.epoch {
            slot = .next
        } else if e < current.epoch {
            return reject(.retiredEpoch)
        } else {
            return reject(.unknownEpoch)
        }

        // 3. Replay window: check only.
        let verdict: ReplayWindow.Verdict
        switch slot {
        case .current: verdict = current.window.check(seq)
        case .previous: verdict = previous!.window.check(seq)
        case .next: verdict = .fresh  // a new epoch's window is empty
        }
        switch verdict {
        case .fresh: break
        case .replayed: return reject(.replayed)
        case .tooOld: return reject(.tooOld)
        }

        // 4. The MAC, constant-time compare (for a control frame: the AEAD's
        // tag, then decryption). The key is used without a
        // retain/release pair (two atomic operations, a measurable part of the
        // per-frame cost next to ipsec-mb's ~20 ns MAC): self owns it and
        // holds it until step 5, which is the first to replace any key.
        let key: Unmanaged<EpochKey>
        switch slot {
        case .current: key = Unmanaged.passUnretained(current.key)
        case .previous: key = Unmanaged.passUnretained(previous!.key)
        case .next: key = Unmanaged.passUnretained(next!)
        }
        let ok = Nonce(direction: direction, epoch: e, sequence: seq).withUnsafeBytes { n in
            key._withUnsafeGuaranteedRef { key in
                switch layout {
                case .contiguous(let base):
                    let authenticated = DataPathLimits.headerSize + length
                    return key.verifyTag(nonce: n.baseAddress!, data: base, count: authenticated,
                                         tag: base + authenticated)
                case .detached(let headerBytes, let tag):
                    return key.verifyDetachedTag(nonce: n.baseAddress!, header: headerBytes,
                        payload: payload.baseAddress, count: length, tag: tag)
                case .encrypted(let base):
                    // Verify-then-decrypt (EpochKey.decryptControl).
                    let text = base + DataPathLimits.headerSize
                    return key.decryptControl(nonce: n.baseAddress!, header: base, text: text, count: length,
                        tag: text + length)
                }
            }
        }
        guard ok else { return reject(.badTag) }

        // 5. Authentic: only now move the window (and the epochs).
        switch slot {
        case .current:
            current.window.accept(seq)
        case .previous:
            previous!.window.accept(seq)
            previousMessagesLeft -= 1
        case .next:
            promoteNext(now: now)
            current.window.accept(seq)
        }
        metrics.messagesOpened &+= 1
        metrics.bytesOpened &+= UInt64(length)
        return .delivered(OpenedMessage(header: header, payload: payload))
    }

    /// Admits the detached header of the data a READ offer names, when the
    /// offer itself has verified: the offer's MAC covers this header and tag,
    /// so the owner chose them, and the header's sequence is taken in the
    /// replay window now (a second offer of it is a replay). Returns the
    /// epoch's key, which the caller holds until the READ completes and passes
    /// to ``verifyAdmittedRead(key:header:payload:tag:)``: the fetched bytes
    /// then verify however many frames or rekeys came in between (issue 12
    /// item 6: checked only at completion, a READ after 1984 later frames, or
    /// after the owner's rekey and grace, used to be refused).
    mutating func admitOfferedRead(header headerBytes: UnsafeRawPointer, now: UInt64) -> AdmittedRead {
        if closed { return .refused(.sessionClosed) }
        if previous != nil, now >= previousDeadline { retirePrevious() }
        guard let header = FrameHeader.decode(from: headerBytes), header.suite == suite, header.opcode == .rdmaRead
        else { return .refused(.malformedHeader) }
        guard FrameHeader.directionByte(at: headerBytes) == direction.rawValue else { return .refused(.wrongDirection) }
        guard header.qpn == localQPN else { return .refused(.wrongQPN) }
        guard Int(header.length) <= configuration.maxPayloadBytes else { return .refused(.oversized) }
        let seq = header.sequence
        guard seq < configuration.rejectAfterMessages else { return .refused(.sequenceLimit) }
        let e = header.epoch
        // The offer verified, so its epoch is current (or was just promoted);
        // the data was sealed just before it: in this epoch or the previous.
        if e == current.epoch {
            switch current.window.check(seq) {
            case .fresh: current.window.accept(seq)
            case .replayed: return .refused(.replayed)
            case .tooOld: return .refused(.tooOld)
            }
            return .admitted(current.key)
        }
        if let p = previous, e == p.epoch {
            switch p.window.check(seq) {
            case .fresh: previous!.window.accept(seq)
            case .replayed: return .refused(.replayed)
            case .tooOld: return .refused(.tooOld)
            }
            return .admitted(p.key)
        }
        return .refused(e < current.epoch ? .retiredEpoch : .unknownEpoch)
    }

    /// The MAC check of a READ admitted with ``admitOfferedRead(header:now:)``,
    /// over the bytes the READ fetched, with the key held since the offer.
    mutating func verifyAdmittedRead(
        key: EpochKey, header headerBytes: UnsafeRawPointer, payload: UnsafeRawBufferPointer, tag: UnsafeRawPointer
    ) -> OpenResult {
        if closed { return reject(.sessionClosed) }
        guard let header = FrameHeader.decode(from: headerBytes), header.epoch == key.epoch else {
            return reject(.malformedHeader)
        }
        guard payload.count == Int(header.length) else { return reject(payload.count < Int(header.length) ? .truncated : .oversized) }
        let ok = Nonce(direction: direction, epoch: header.epoch, sequence: header.sequence).withUnsafeBytes { n in
            key.verifyDetachedTag(nonce: n.baseAddress!, header: headerBytes, payload: payload.baseAddress,
                count: payload.count, tag: tag)
        }
        guard ok else { return reject(.badTag) }
        metrics.messagesOpened &+= 1
        metrics.bytesOpened &+= UInt64(payload.count)
        return .delivered(OpenedMessage(header: header, payload: payload))
    }

    /// Counts a rejection of an offered READ's header (the offer is then a
    /// protocol violation or, under drop-and-count, dropped).
    mutating func rejectOfferedRead(_ reason: RejectReason) -> OpenResult { reject(reason) }

    /// The peer moved to epoch current+1: current becomes previous (grace
    /// starts), next becomes current, and the epoch after is precomputed.
    /// Runs once per epoch, not per message.
    private mutating func promoteNext(now: UInt64) {
        guard let newKey = next else { return }
        if previous != nil { retirePrevious() }
        previous = current
        previousDeadline = now &+ configuration.previousEpochGraceNanoseconds
        if previousDeadline < now { previousDeadline = .max }
        previousMessagesLeft = configuration.previousEpochGraceMessages
        current = ReceiveEpoch(key: newKey)
        next = nil
        if let s = nextSecret {
            if newKey.epoch < configuration.maxEpoch {
                let following = s.next()
                next = try? EpochKey(suite: suite, engine: newKey.engine, epoch: newKey.epoch + 1, secret: following)
                nextSecret = following
            } else {
                nextSecret = nil
            }
            s.wipe()
        }
        metrics.rekeys &+= 1
    }

    /// Re-authentication (docs/protocol.md section 14.4): the peer will send
    /// the epoch after `carrierEpoch` (the epoch of the frame that carried its
    /// last re-authentication message, just verified) under `secret` instead of
    /// the chain's next secret. Replaces the precomputed next epoch (its key and
    /// secret are wiped); the current epoch stays current until the first
    /// authentic frame under the new key, then stays as previous for the grace,
    /// so frames sealed before the peer switched are delivered. Throws
    /// `.reauthenticationOutOfOrder` when `carrierEpoch` is not the current
    /// epoch (frames verified out of order: the switch point is unknown) and
    /// `.epochsExhausted` at the last epoch.
    public mutating func installReceiving(secret: UnsafeRawBufferPointer, afterEpoch carrierEpoch: UInt32)
        throws(DataPathError)
    {
        guard carrierEpoch == current.epoch else {
            throw .reauthenticationOutOfOrder(carrierEpoch: carrierEpoch, currentEpoch: current.epoch)
        }
        guard carrierEpoch < configuration.maxEpoch else { throw .epochsExhausted }
        let newSecret = try TrafficSecret(copying: secret)
        let newKey = try EpochKey(suite: suite, engine: current.key.engine, epoch: carrierEpoch + 1, secret: newSecret)
        nextSecret?.wipe()
        nextSecret = newSecret
        next = newKey  // the chain's key is released and wiped in its deinit
        metrics.reauthenticationSwitches &+= 1
    }

    /// Drops (and so wipes) the previous epoch's key.
    private mutating func retirePrevious() {
        previousDeadline = .max
        if previous != nil {
            previous = nil
            metrics.epochsRetired &+= 1
        }
    }

    /// Counts a rejection the channel decided before any MAC check (e.g. a
    /// WRITE notice naming no granted window) under the same policy.
    public mutating func rejectUnverified(_ reason: RejectReason) -> OpenResult {
        reject(reason)
    }

    @inline(__always)
    private mutating func reject(_ reason: RejectReason) -> OpenResult {
        metrics.failures[reason] &+= 1
        switch configuration.failurePolicy {
        case .fatal:
            closed = true
            return .rejected(reason, .tearDown)
        case .dropAndCount:
            return .rejected(reason, .drop)
        }
    }
}
