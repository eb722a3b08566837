import Handshake
import Verbs

/// ``InBandHandshake/run`` one step at a time, for a caller that must not
/// block (NCCL's `connect`, through ``ConnectorSetup``): each ``step()``
/// looks once for the peer's next message, feeds it to the machine, posts
/// what the machine answers, and reports the channel once the machine
/// finished and its last SEND completed. Never waits, except for a
/// handshake send buffer still in use (the handshake sends one message per
/// round trip, so it is free by then) and briefly for an abort's alert.
final class InBandHandshakeSteps {
    private let setup: HandshakeSetup
    private let deadline: UInt64
    private var started = false
    private var result: HandshakeResult?

    init(_ setup: HandshakeSetup) {
        self.setup = setup
        deadline = ChannelClock.deadline(after: setup.timeout)
    }

    /// The channel once the handshake finished, nil before; throws its
    /// failure (audited, logged, the QP moved to ERROR by ``HandshakeSetup``).
    func step() throws(ChannelError) -> AuthenticatedQueuePair? {
        let finished: HandshakeResult
        do {
            guard let r = try advance() else { return nil }
            finished = r
        } catch {
            throw setup.fail(error)
        }
        return try setup.finish(finished)
    }

    private func advance() throws(ChannelError) -> HandshakeResult? {
        if !started {
            started = true
            if setup.machine.role == .initiator { try handle(setup.machine.start(now: ChannelClock.wall())) }
        }
        if result == nil {
            guard let (slot, length) = try setup.resources.pollReceive() else { return try checkDeadline() }
            let message = Array(UnsafeRawBufferPointer(rebasing: setup.resources.receiveSlot(slot)[0..<length]))
            try ChannelError.lowering { try setup.qp.post(setup.resources.receiveRequest(slot: slot)) }
            try handle(setup.machine.receive(message, now: ChannelClock.wall()))
        }
        guard let result else { return nil }
        // Done once the last message has left: the peer's receive completes only then.
        return try setup.resources.isDone(ticket: setup.resources.ticketsPosted) ? result : checkDeadline()
    }

    private func handle(_ output: HandshakeOutput) throws(ChannelError) {
        switch output {
        case .send(let bytes):
            try setup.resources.postHandshakeMessage(bytes, on: setup.qp, deadline: deadline)
        case .sendAndFinish(let bytes, let finished):
            try setup.resources.postHandshakeMessage(bytes, on: setup.qp, deadline: deadline)
            result = finished
        case .finished(let finished):
            result = finished
        case .abort(let error, let alert):
            if let alert {
                // Best effort, a moment at most: the peer should learn why, but this fails either way.
                let soon = min(deadline, ChannelClock.deadline(after: .milliseconds(100)))
                try? setup.resources.postHandshakeMessage(alert, on: setup.qp, deadline: soon)
                try? setup.resources.drainSends(deadline: soon)
            }
            throw .handshake(error)
        }
    }

    /// nil before the deadline; after it, the machine's own timeout verdict.
    private func checkDeadline() throws(ChannelError) -> HandshakeResult? {
        guard ChannelClock.monotonicNanoseconds() > deadline else { return nil }
        if case .abort(let error, _)? = setup.machine.checkTimeout(now: ChannelClock.wall()) { throw .handshake(error) }
        throw .timedOut("handshake: message from the peer")
    }
}
