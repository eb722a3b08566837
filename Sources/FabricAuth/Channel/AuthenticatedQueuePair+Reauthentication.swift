import Foundation
import Handshake
import Identity

// In-band re-authentication (docs/protocol.md section 14), executed: the
// machine (Handshake/Reauthentication) decides, this file moves its messages
// as opcode-8 frames, switches the data path's keys where it says, and
// updates the channel's peer. The order of a run, requester on the left:
//
//   A1 ->                      (both: current keys)
//                   <- A2      responder verified nothing yet
//   A3 ->, switch sending      requester verified the responder
//                   <- A4      responder verified the requester; installs the
//                              requester's new key after A3's epoch, then
//                              switches its own sending after A4's frame
//   install after A4's epoch
//
// Frames sealed before a switch arrive before the first frame after it (RC
// order), so traffic never stops: nothing in flight is lost or rejected.
extension AuthenticatedQueuePair {
    /// Completed re-authentications of this channel (either side started them).
    public var reauthenticationGeneration: UInt32 { reauth.machine.generation }

    /// Whether a re-authentication is under way.
    public var isReauthenticating: Bool { reauth.machine.isRunning }

    /// Starts a re-authentication now, presenting the newest local credential
    /// (``ChannelConfiguration/sources``), unless one is under way. Returns
    /// once the first message is posted; the run completes while the channel
    /// is driven (`send`, `receive`, `test`, ``poll()``), within
    /// `reauthentication.timeout`, and then ``reauthenticationGeneration`` has
    /// grown and ``peer`` holds the peer's new certificate. A run that fails
    /// closes the channel with ``ChannelError/reauthenticationFailed(_:)``.
    public func reauthenticate() throws(ChannelError) {
        guard !closed else { throw .closed }
        guard !reauth.machine.isRunning else { return }
        try startReauthentication(.requested)
    }

    /// Drives a channel the application is not otherwise using: handles what
    /// arrived (control and re-authentication messages; SENDs wait for
    /// `receive`), expired requests, trust rechecks and re-authentication.
    public func poll() throws(ChannelError) {
        guard !closed else { throw .closed }
        try progressAll()
    }

    /// From the send path: a channel that only sends still answers the
    /// peer's re-authentication (within `checkInterval`) and finishes its own
    /// (polling each millisecond while a run is under way).
    @inline(__always)
    func serviceReauthenticationIfDue() throws(ChannelError) {
        if reauth.needsService(ChannelClock.monotonicNanoseconds()) { try progressAll() }
    }

    /// From the progress path, each call (one comparison between looks): a
    /// run's deadline, and each `checkInterval` the schedule's triggers.
    @inline(__always)
    func maintainReauthentication(_ now: UInt64) throws(ChannelError) {
        guard reauth.needsService(now) else { return }
        if reauth.machine.isRunning {
            reauth.nextCheck = now &+ ChannelReauthentication.runPollInterval
            if let expired = reauth.machine.checkTimeout(now: ChannelClock.wall()) {
                try perform(expired, carrierEpoch: nil)
            }
            return
        }
        reauth.nextCheck = now &+ reauth.checkInterval
        guard reauth.settings.automatic else { return }
        let wall = Date()
        if let trigger = reauth.schedule.reason(now: wall, presented: reauth.presented,
            newest: ReauthenticationSchedule.Validity(newestCredential, observed: wall), peer: reauth.peerValidity)
        {
            try startReauthentication(trigger)
        }
    }

    /// The credential a run presents: the newest loaded.
    var newestCredential: Credential { configuration.sources?.credential ?? configuration.credential }

    func startReauthentication(_ trigger: ReauthenticationSchedule.Reason) throws(ChannelError) {
        let credential = newestCredential
        configuration.log?("re-authenticating with \(peer.spiffeID) on QP \(queuePair.number) (\(trigger))")
        reauth.begin(presenting: credential, trigger: trigger, audited: audit != nil)
        reauth.nextCheck = ChannelClock.monotonicNanoseconds() &+ ChannelReauthentication.runPollInterval
        reauth.machine.updateVerifier(currentPeerVerifier())
        try perform(reauth.machine.start(with: CertificateCredential(credential), now: ChannelClock.wall()),
            carrierEpoch: nil)
    }

    /// The trust in force now, as the machine asks it (chain, revocation,
    /// policy, quarantine), noting for the run's audit event.
    func currentPeerVerifier() -> CertificatePeerVerifier {
        let (verifier, policy) = configuration.currentTrust()
        var v = CertificatePeerVerifier(verifier: verifier, policy: policy, localID: configuration.credential.spiffeID,
            quarantine: configuration.quarantine, log: configuration.log)
        v.auditNotes = reauth.notes
        return v
    }

    /// One authentic opcode-8 frame from the receive pipeline; `epoch` is the
    /// epoch it was verified under (a switch is installed after it).
    func receiveReauthentication(_ fragment: UnsafeRawBufferPointer, epoch: UInt32) throws(ChannelError) {
        let message: [UInt8]?
        do {
            message = try reauth.reassembly.add(fragment)
        } catch {
            throw violation(RendezvousViolation(what: error.description))
        }
        guard let message else { return }
        if !reauth.machine.isRunning {
            // The peer's A1 (or something the machine will refuse): answer with what is newest.
            let credential = newestCredential
            reauth.begin(presenting: credential, trigger: nil, audited: audit != nil)
            reauth.nextCheck = ChannelClock.monotonicNanoseconds() &+ ChannelReauthentication.runPollInterval
            reauth.machine.updateCredential(CertificateCredential(credential))
        }
        reauth.machine.updateVerifier(currentPeerVerifier())
        try perform(reauth.machine.receive(message, now: ChannelClock.wall()), carrierEpoch: epoch)
    }

    /// Carries out one step of the machine.
    func perform(_ output: ReauthenticationOutput, carrierEpoch: UInt32?) throws(ChannelError) {
        switch output {
        case .none:
            return
        case .send(let message):
            try sendReauthenticationMessage(message)
        case .sendThenSwitchSending(let message, let secret):
            defer { secret.wipe() }
            try sendReauthenticationMessage(message)
            try switchSending(to: secret)
        case .finished(let result, let a4):
            defer { result.wipe() }
            guard let carrierEpoch else { preconditionFailure("a run finishes only on a received message") }
            do {
                try result.receiveSecret.withUnsafeBytes { (s) throws(DataPathError) in
                    try receiver.installReceiving(secret: s, afterEpoch: carrierEpoch)
                }
            } catch {
                throw tearDown(.dataPath(error))
            }
            if let a4, let secret = result.sendSecret {
                try sendReauthenticationMessage(a4)
                try switchSending(to: secret)
            }
            try reauthenticated(result)
        case .abort(let error, let alert):
            guard reauth.machine.isClosed else {
                // A start the machine refused (one under way, generations used up): nothing changed.
                throw .invalidRequest("re-authentication not started: \(error)")
            }
            // Best effort: the peer should learn why; the channel closes either way, for this reason.
            if let alert { try? sendReauthenticationMessage(alert, closingOnFailure: false) }
            auditReauthentication(refused: error)
            throw tearDown(.reauthenticationFailed(error))
        }
    }

    /// The run completed: the peer as it proved itself now.
    private func reauthenticated(_ result: ReauthenticationResult) throws(ChannelError) {
        guard let workload = result.peer as? VerifiedWorkload else {
            throw tearDown(.protocolViolation("re-authenticated peer was not verified by FabricAuth's verifier"))
        }
        peer = workload.workload
        reauth.finish(peer: peer)
        // The expiry cut-off follows the new certificate.
        trustSchedule = TrustRecheckSchedule(interval: configuration.trustRecheckInterval,
            grace: configuration.expiryGrace, peerNotAfter: peer.notAfter,
            tolerance: configuration.verifier.clockSkewTolerance, wallNow: Date(),
            monotonicNow: ChannelClock.monotonicNanoseconds())
        configuration.log?("re-authenticated \(peer.spiffeID) on QP \(queuePair.number): generation \(result.generation), "
            + "peer certificate valid until \(peer.notAfter)")
        if let audit {
            audit.peerCertificateChanged(to: peer.leafFingerprint.description)
            audit.log.record(.reauthentication(AuditEvent.Reauthentication(channel: audit.channel, outcome: .accepted,
                epoch: sender.epoch, peerCertSHA256: peer.leafFingerprint.description,
                policy: reauth.notes?.current.decision.map(AuditEvent.PolicyDecision.init),
                reason: reauth.trigger?.rawValue ?? "peer_requested")))
        }
        reauth.notes = nil
    }

    private func auditReauthentication(refused error: HandshakeError) {
        guard let audit else { return }
        let notes = reauth.notes?.current
        audit.log.record(.reauthentication(AuditEvent.Reauthentication(channel: audit.channel, outcome: .refused,
            peerCertSHA256: notes?.presentedLeaf, policy: notes?.decision.map(AuditEvent.PolicyDecision.init),
            reason: SnakeCase.name(error.code), detail: error.description)))
    }

    private func switchSending(to secret: SecretBytes) throws(ChannelError) {
        do {
            try secret.withUnsafeBytes { (s) throws(DataPathError) in
                try sender.switchSending(to: s, now: ChannelClock.monotonicNanoseconds())
            }
        } catch {
            throw tearDown(.dataPath(error))
        }
    }

    /// Sends one re-authentication message as opcode-8 frames that each fit
    /// a slot (ReauthenticationReassembly), under the current sending key. A
    /// failure closes the channel unless the caller is closing it already.
    func sendReauthenticationMessage(_ message: [UInt8], closingOnFailure: Bool = true) throws(ChannelError) {
        let capacity = min(resources.slotSize - DataPathLimits.frameOverhead, configuration.dataPath.maxPayloadBytes)
        let pieces = ReauthenticationReassembly.fragments(of: message, capacity: capacity)
        let deadline = ChannelClock.deadline(after: reauth.settings.timeout)
        do throws(ChannelError) {
            for (i, piece) in pieces.enumerated() {
                let slot = try resources.acquireSendSlot(deadline: deadline)
                let payload = resources.sendSlot(slot).baseAddress! + DataPathLimits.headerSize
                payload.storeBytes(of: i + 1 < pieces.count ? ReauthenticationReassembly.moreFragments : 0, as: UInt8.self)
                piece.withUnsafeBytes { if let p = $0.baseAddress { (payload + 1).copyMemory(from: p, byteCount: $0.count) } }
                let sealed = try ChannelError.lowering {
                    try sender.seal(frame: resources.sendSlot(slot), payloadLength: 1 + piece.count, opcode: .reauthentication,
                        now: ChannelClock.monotonicNanoseconds())
                }
                telemetry?.publishSent(sender.metrics)
                try checkEpoch(sealed.epoch)
                try resources.postSend(slot: slot, length: sealed.frameLength, on: queuePair)
            }
        } catch {
            throw closingOnFailure ? tearDown(error) : error
        }
    }
}
