import CSodium
import Foundation
import Handshake
import Identity
import Verbs

/// A connected RC queue pair whose every message is authenticated.
///
/// Made by ``AuthenticatedConnector/connect(context:host:port:configuration:)``
/// or ``AuthenticatedListener/accept()`` after a handshake bound to this very
/// QP (docs/protocol.md). Each `send` seals the payload into a registered slot
/// (header, payload, tag) and posts one SEND; each `receive` verifies the next
/// frame before the caller sees a byte. A frame that fails is never delivered;
/// under the default fatal policy the QP is moved to ERROR and the channel
/// closes, under drop-and-count it is dropped and counted.
///
/// Bulk data moves by RDMA WRITE or READ through the request API
/// (RemoteAccess/, NCCL's shape: `registerMemory`/`allocateMemory`, `irecv`,
/// `isend`, `iread`, `offerForRead`, `test`), each transfer through a type 2
/// memory window bound for it alone and verified before it is reported done.
///
/// Not thread-safe: one thread drives a channel, as one thread polls a CQ.
public final class AuthenticatedQueuePair {
    /// The peer's verified identity: from the handshake, then from each
    /// re-authentication (same SPIFFE ID, its newest certificate).
    public internal(set) var peer: WorkloadIdentity
    /// The negotiated MAC.
    public let suite: CipherSuite
    /// Whether keys came from a resumed session (no certificates checked this time).
    public let resumed: Bool
    /// The raw queue pair. Anything posted on it bypasses authentication,
    /// so it is not part of the API: tests and the demo's forger reach it
    /// with `@_spi(RawQueuePair) import FabricAuth`.
    @_spi(RawQueuePair) public let queuePair: QueuePair
    /// What the peer sent inside the handshake (`ChannelConfiguration.handshakePayload`).
    public let peerPayload: [UInt8]

    let resources: ChannelResources
    let configuration: ChannelConfiguration
    var sender: DataPathSender
    var receiver: DataPathReceiver
    var closed = false
    private var telemetryRetired = false
    /// The epoch of the last sealed message; a new epoch triggers a recheck of the peer.
    private var checkedEpoch: UInt32 = 0
    /// When the peer is next re-evaluated against the trust in force.
    var trustSchedule: TrustRecheckSchedule
    /// In-band re-authentication (docs/protocol.md section 14).
    let reauth: ChannelReauthentication
    /// Verified SEND messages waiting for `receive`.
    var inbox: Inbox
    /// The WRITE/READ rendezvous (Rendezvous/) and the memory behind it (RemoteAccess/).
    var rendezvous: Rendezvous
    let transfers: TransferTable
    let limits: Rendezvous.Limits
    /// Where the counters are published for `configuration.observer`; nil without one.
    let telemetry: ChannelTelemetry?
    /// The channel's audit events (`configuration.audit`); nil without a log.
    let audit: ChannelAudit?
    /// This channel's registration with `configuration.quarantine`; nil without one.
    let cutoff: ChannelCutoff?
    /// The peer's QP and GID as bound in the handshake, for fabric alarms.
    let remoteQPN: UInt32
    let remoteGID: [UInt8]

    init(queuePair: QueuePair, resources: ChannelResources, result: consuming HandshakeResult,
         configuration: ChannelConfiguration) throws(ChannelError) {
        guard let workload = result.peer as? VerifiedWorkload else {
            throw .protocolViolation("the handshake's peer was not verified by FabricAuth's verifier")
        }
        let suite = result.suite
        guard suite.isKnown else {
            throw .protocolViolation("negotiated suite \(result.suite) has no data-path MAC")
        }
        let outgoing: Direction = result.role == .initiator ? .initiatorToResponder : .responderToInitiator
        let now = ChannelClock.monotonicNanoseconds()
        do {
            sender = try result.sendSecret.withUnsafeBytes { (s) throws(DataPathError) in
                try DataPathSender(trafficSecret: s, suite: suite, direction: outgoing,
                    remoteQPN: result.remoteBinding.qpn, configuration: configuration.dataPath, now: now)
            }
            receiver = try result.receiveSecret.withUnsafeBytes { (s) throws(DataPathError) in
                try DataPathReceiver(trafficSecret: s, suite: suite, direction: outgoing.reversed,
                    localQPN: queuePair.number, configuration: configuration.dataPath, now: now)
            }
        } catch {
            result.wipe()
            throw ChannelError(lowering: error)
        }
        self.peer = workload.workload
        self.suite = suite
        self.resumed = result.resumed
        self.peerPayload = result.peerPayload
        self.queuePair = queuePair
        self.remoteQPN = result.remoteBinding.qpn
        self.remoteGID = result.remoteBinding.gid
        self.resources = resources
        self.configuration = configuration
        self.inbox = Inbox(capacity: resources.receiveCount)
        self.limits = Rendezvous.Limits(requests: configuration.remoteAccessDepth, targets: configuration.writeTargets)
        self.rendezvous = Rendezvous(limits: limits)
        self.transfers = TransferTable(limits: limits)
        self.trustSchedule = TrustRecheckSchedule(interval: configuration.trustRecheckInterval,
            grace: configuration.expiryGrace, peerNotAfter: workload.workload.notAfter,
            tolerance: configuration.verifier.clockSkewTolerance, wallNow: Date(), monotonicNow: now)
        if configuration.observer != nil {
            self.telemetry = ChannelTelemetry(suite: suite, macEngine: sender.metrics.macEngine, resumed: result.resumed)
        } else {
            self.telemetry = nil
        }
        let machine = ReauthenticationMachine(handshake: copy result, credential: CertificateCredential(configuration.credential),
            verifier: CertificatePeerVerifier(verifier: configuration.verifier, policy: configuration.policy,
                localID: configuration.credential.spiffeID, quarantine: configuration.quarantine, log: configuration.log),
            timeout: configuration.reauthentication.timeout, counters: configuration.handshakeCounters)
        self.reauth = ChannelReauthentication(machine: machine, settings: configuration.reauthentication,
            presenting: configuration.credential, peer: workload.workload, monotonicNow: now)
        self.audit = configuration.audit.map {
            ChannelAudit(log: $0, localID: configuration.credential.spiffeID, peer: workload.workload,
                local: result.localBinding, remote: result.remoteBinding, failurePolicy: configuration.dataPath.failurePolicy)
        }
        result.wipe()
        if let quarantine = configuration.quarantine {
            let cutoff = ChannelCutoff(peer: workload.workload.spiffeID.description) { try? queuePair.moveToError() }
            // The peer may have been quarantined while its handshake ran.
            if let entry = quarantine.register(cutoff, peer: workload.workload.spiffeID, now: Date()) {
                self.cutoff = nil
                self.closed = true
                try? queuePair.moveToError()
                throw .peerQuarantined(entry.reason)
            }
            self.cutoff = cutoff
        } else {
            self.cutoff = nil
        }
        if let telemetry { configuration.observer?.channelOpened(telemetry) }
    }

    deinit {
        // A channel released without `close()` still leaves the observer's count and the audit trail.
        if !closed { auditClose(.released, detail: nil) }
        retireTelemetry()
        if let cutoff { configuration.quarantine?.unregister(cutoff) }
        // Windows before the QP (ChannelResources.releaseWindows).
        resources.releaseWindows()
    }

    /// Publishes every counter and tells the observer the channel is gone (once).
    private func retireTelemetry() {
        guard let telemetry, !telemetryRetired else { return }
        telemetryRetired = true
        publishAllMetrics()
        configuration.observer?.channelClosed(telemetry)
    }

    /// Publishes every counter into `telemetry` (after a rejection, at close).
    func publishAllMetrics() {
        telemetry?.publish(sender: sender.metrics, receiver: receiver.metrics,
            protocolViolations: transfers.metrics.protocolViolations)
    }

    /// After every seal: the send counters for a scrape, then the epoch check
    /// and, when due, the trust recheck.
    func sealed(_ frame: SealedFrame) throws(ChannelError) {
        telemetry?.publishSent(sender.metrics)
        try checkEpoch(frame.epoch)
        try recheckTrustIfDue(ChannelClock.monotonicNanoseconds())
    }

    /// Counters of the sending half (messages and bytes sealed, rekeys).
    public var sendMetrics: DataPathMetrics { sender.metrics }
    /// Counters of the receiving half (messages opened, failures by reason).
    public var receiveMetrics: DataPathMetrics { receiver.metrics }
    /// Counters of the RDMA WRITE/READ path.
    public var remoteAccessMetrics: RemoteAccessMetrics { transfers.metrics }
    /// This side's QP number (bound into the handshake; the peer sends to it).
    public var queuePairNumber: UInt32 { queuePair.number }
    /// The state the device reports for the QP now (ERROR after a fatal failure or `close()`).
    public func queuePairState() throws(ChannelError) -> QueuePairState {
        try ChannelError.lowering { try queuePair.state() }
    }
    /// The key epoch the next message will be sealed under.
    public var sendEpoch: UInt32 { sender.epoch }
    /// Largest payload one message can carry.
    public var maxMessageSize: Int { configuration.maxMessageSize }
    /// False after a fatal verification failure or `close()`.
    public var isOpen: Bool { !closed }

    /// Seals `payload` and posts it. Returns once posted; the send slot is
    /// reused only after its completion, which later sends collect.
    public func send(_ payload: UnsafeRawBufferPointer, timeout: Duration = .seconds(10)) throws(ChannelError) {
        guard !closed else { throw .closed }
        try checkCutoff()
        try serviceReauthenticationIfDue()
        guard payload.count <= configuration.maxMessageSize else {
            throw .dataPath(.payloadTooLarge(payload.count))
        }
        let deadline = ChannelClock.deadline(after: timeout)
        let slot = try resources.acquireSendSlot(deadline: deadline)
        let frame = resources.sendSlot(slot)
        if let base = payload.baseAddress, payload.count > 0 {
            (frame.baseAddress! + DataPathLimits.headerSize).copyMemory(from: base, byteCount: payload.count)
        }
        let sealed = try ChannelError.lowering {
            try sender.seal(frame: frame, payloadLength: payload.count, opcode: .send, now: ChannelClock.monotonicNanoseconds())
        }
        try self.sealed(sealed)
        try resources.postSend(slot: slot, length: sealed.frameLength, on: queuePair)
    }

    /// A rekey is where a long-lived channel meets revocation and expiry:
    /// refuse to carry on under a peer that is no longer valid.
    func checkEpoch(_ epoch: UInt32) throws(ChannelError) {
        if epoch != checkedEpoch {
            checkedEpoch = epoch
            audit?.epochChanged(.send, to: epoch)
            try revalidatePeer()
        }
    }

    /// Re-evaluates the peer against the trust in force now (its leaf's
    /// validity, its CA still in the bundle, the deny list, the policy; the
    /// newest values of `configuration.sources` when set) and closes the
    /// channel, with the ``PeerInvalidation`` as the reason, when it fails.
    /// Cheap (no signature checks). Runs on every rekey of the sending
    /// direction and each `trustRecheckInterval` from the send and progress
    /// paths; call it to apply a reload at once.
    public func revalidatePeer(at now: Date = Date()) throws(ChannelError) {
        guard !closed else { throw .closed }
        let (verifier, policy) = configuration.currentTrust()
        if let invalidation = PeerInvalidation.evaluate(peer, verifier: verifier, policy: policy,
            localID: configuration.credential.spiffeID, at: now) {
            telemetry?.recordTrustClosure(invalidation)
            throw tearDown(.peerNoLongerValid(invalidation.description))
        }
    }

    /// The periodic recheck, from the send and progress paths: one
    /// comparison unless due.
    @inline(__always)
    func recheckTrustIfDue(_ now: UInt64) throws(ChannelError) {
        guard trustSchedule.isDue(now) else { return }
        trustSchedule.checked(at: now)
        try revalidatePeer()
    }

    public func send(_ payload: [UInt8], timeout: Duration = .seconds(10)) throws(ChannelError) {
        var failure: ChannelError?
        payload.withUnsafeBytes { p in
            do throws(ChannelError) { try send(p, timeout: timeout) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Waits until every posted send has completed.
    public func flush(timeout: Duration = .seconds(10)) throws(ChannelError) {
        try resources.drainSends(deadline: ChannelClock.deadline(after: timeout))
    }

    /// Waits for the next authentic message and hands its payload to `body`
    /// (valid only inside it; the slot is reposted afterwards). Frames that fail
    /// verification never reach `body`. Control messages of the WRITE/READ
    /// path that arrive meanwhile are handled on the way.
    public func receive<R>(timeout: Duration = .seconds(10), _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard !closed else { throw ChannelError.closed }
        let deadline = ChannelClock.deadline(after: timeout)
        var idle = 0
        while inbox.isEmpty {
            if try !progressOnce() {
                try ChannelResources.idle(&idle, deadline: deadline, what: "message from the peer")
            }
        }
        let (slot, length) = inbox.pop()
        defer { repost(slot) }
        let payload = UnsafeRawBufferPointer(start: resources.receiveSlot(slot).baseAddress! + DataPathLimits.headerSize,
            count: length)
        return try body(payload)
    }

    /// Receives one message into a new array (convenience for tools; allocates).
    public func receive(timeout: Duration = .seconds(10)) throws -> [UInt8] {
        try receive(timeout: timeout) { Array($0) }
    }

    /// Moves the QP to ERROR so the peer sees the connection end; resources are
    /// freed when the last reference goes.
    public func close() {
        guard !closed else { return }
        let (reason, detail) = audit?.closeReason ?? (.application, nil)
        auditClose(reason, detail: detail)
        closed = true
        rendezvous.close()
        try? queuePair.moveToError()
        retireTelemetry()
        if let cutoff { configuration.quarantine?.unregister(cutoff) }
    }
}
