import Foundation
import Verbs

// The receive pipeline (read top to bottom, as wireguard-go's receive.go):
//
//   1. poll      one receive completion: a sealed SEND frame, or a WRITE
//                notice (header and tag of a detached message whose payload
//                is in a granted window)
//   2. open      verify the frame (DataPathReceiver: window, MAC, window move;
//                a control message is decrypted in its slot after its tag verified);
//                a notice is only matched to its window here and verified once
//                the window is closed (Rendezvous, +Write)
//   3. dispatch  by the authenticated opcode: application messages to the
//                inbox, control messages to the rendezvous machine
//
// Rejections are counted by the receiver and handled by the failure policy;
// authentic control messages that break the protocol close the channel.
// Every fatal error leaves through `tearDown`.
extension AuthenticatedQueuePair {
    /// Handles one receive completion if there is one; false when the CQ was empty.
    func progressOnce() throws(ChannelError) -> Bool {
        guard !closed else { throw .closed }
        // Here, not only in `send`: a channel that only receives, or waits
        // idle in `receive`/`test`, follows trust changes too.
        let now = ChannelClock.monotonicNanoseconds()
        try recheckTrustIfDue(now)
        try checkCutoff()
        try maintainReauthentication(now)
        let polled: (slot: Int, length: Int)?
        do {
            polled = try resources.pollReceive()
        } catch {
            // Cut off from another thread between the check and the poll: the
            // flushed completion is the quarantine's doing, say so.
            try checkCutoff()
            throw error
        }
        guard let (slot, length) = polled else { return false }
        // A handshake buffer, reposted, may take a data frame: never one
        // longer than a slot (a message above maxMessageSize).
        guard length <= resources.slotSize else {
            repost(slot)
            if case .rejected(let reason, let action) = receiver.rejectUnverified(.oversized) {
                try handleRejection(reason, action)
            }
            return true
        }
        // Mutable: a control frame is decrypted in place in its slot once it verified.
        let frame = UnsafeMutableRawBufferPointer(rebasing: resources.receiveSlot(slot)[0..<length])
        // The opcode byte is read before it is authenticated only to choose
        // the layout; both layouts authenticate it.
        if length == DataPathLimits.frameOverhead, frame[FrameHeader.Offset.opcode] == DataPathOpcode.rdmaWrite.rawValue {
            defer { repost(slot) }
            try receiveWriteNotice(UnsafeRawBufferPointer(frame))
            return true
        }
        switch receiver.open(frame: frame, now: ChannelClock.monotonicNanoseconds()) {
        case .delivered(let message):
            opened()
            if message.header.opcode == .send || message.header.opcode == .sendWithImmediate {
                inbox.push(slot: slot, length: message.payload.count)  // reposted once received
                return true
            }
            defer { repost(slot) }
            if message.header.opcode == .reauthentication {
                try receiveReauthentication(message.payload, epoch: message.header.epoch)
                return true
            }
            try dispatchControl(message.header.opcode, message.payload)
            return true
        case .rejected(let reason, let action):
            repost(slot)
            try handleRejection(reason, action)
            return true
        }
    }

    /// An authentic control message of the rendezvous.
    private func dispatchControl(_ opcode: DataPathOpcode, _ payload: UnsafeRawBufferPointer) throws(ChannelError) {
        do throws(RendezvousViolation) {
            switch opcode {
            case .writeGrant:
                guard let g = ControlMessage.WriteGrant(payload) else { throw RendezvousViolation(what: "malformed WRITE grant") }
                try rendezvous.peerGranted(PeerGrant(index: g.index, generation: g.generation, tag: g.tag,
                    key: WindowKey(rkey: g.rkey, address: g.address), capacity: Int(g.capacity)))
            case .readOffer:
                try receiveReadOffer(payload)
            case .readDone:
                guard let done = ControlMessage.ReadDone(payload) else { throw RendezvousViolation(what: "malformed READ done") }
                try rendezvous.peerReadDone(index: done.index, generation: done.generation)
            case .send, .sendWithImmediate, .rdmaWrite, .rdmaWriteWithImmediate, .rdmaRead:
                throw RendezvousViolation(what: "detached opcode \(opcode) in a SEND frame")
            case .reauthentication:
                preconditionFailure("opcode 8 is handled by the receive pipeline before dispatch")
            }
        } catch {
            throw violation(error)
        }
        try closeWindows()
    }

    /// Handles everything the receive CQ holds now (bounded, so a flood can't
    /// keep the caller here), then whatever expired.
    func progressAll() throws(ChannelError) {
        for _ in 0..<resources.receiveDepth {
            if try !progressOnce() { break }
        }
        rendezvous.expire(now: ChannelClock.monotonicNanoseconds())
        try closeWindows()
    }

    /// A frame failed verification: never proven to be the peer's
    /// (FailureAttribution), so it raises a fabric alarm and never
    /// quarantines; under the fatal policy the channel closes and throws.
    func handleRejection(_ reason: RejectReason, _ action: RejectAction) throws(ChannelError) {
        audit?.rejected(reason)
        publishAllMetrics()
        if reason.attribution == .fabricAlarm {
            let failures = receiver.metrics.failures
            let alarm = FabricAlarm(reason: reason, peer: peer.spiffeID.description, localQPN: queuePair.number,
                remoteQPN: remoteQPN, remoteGID: remoteGID, count: failures[reason], total: failures.total)
            configuration.observer?.fabricAlarm(alarm)
            audit?.fabricAlarm(reason)
            if FabricAlarm.shouldLog(count: alarm.count) { configuration.log?("\(alarm)") }
        } else {
            configuration.log?("rejected a message from \(peer.spiffeID): \(reason)")
        }
        if action == .tearDown { throw tearDown(.rejected(reason, tornDown: true)) }
    }

    /// An authentic peer broke the rendezvous protocol: count it, quarantine
    /// the peer (which cuts off its other channels too) and close.
    func violation(_ v: RendezvousViolation) -> ChannelError {
        transfers.metrics.protocolViolations += 1
        let error = tearDown(.protocolViolation(v.what))
        if v.attribution == .peerMisbehaviour {
            configuration.quarantine?.quarantine(peer.spiffeID, reason: "protocol violation: \(v.what)",
                cause: .misbehaviour, now: Date())
        }
        return error
    }

    /// Closes the channel with `.peerQuarantined` once its peer has been
    /// quarantined (from any thread, ChannelCutoff).
    @inline(__always)
    func checkCutoff() throws(ChannelError) {
        if let cutoff, cutoff.isCut { throw tearDown(.peerQuarantined(cutoff.reason)) }
    }

    /// The one way a channel ends: no request completes after it, the QP is
    /// moved to ERROR (the peer sees the connection end; windows die with it),
    /// and `error` is returned for the caller to throw.
    @discardableResult
    func tearDown(_ error: ChannelError) -> ChannelError {
        if !closed {
            configuration.log?("closing channel to \(peer.spiffeID): \(error)")
            audit?.closeReason = (error.closeReason, "\(error)")
            close()
        }
        return error
    }

    /// One lower-layer call whose failure ends the channel (a bind the
    /// device refused): its error lowered and returned through `tearDown`.
    @inline(__always)
    func tearingDownOnError<T: ~Copyable, E: Error>(_ call: () throws(E) -> T) throws(ChannelError) -> T {
        do { return try ChannelError.lowering(call) } catch { throw tearDown(error) }
    }

    func repost(_ slot: Int) {
        // Reposting can only fail once the QP is in ERROR, which the next
        // receive reports as a flushed completion.
        try? queuePair.post(resources.receiveRequest(slot: slot))
    }
}
