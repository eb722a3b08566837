import Handshake
import Verbs

/// Runs a handshake machine over a freshly connected RC queue pair, as SENDs
/// into the peer's posted receive slots: the machine decides, this moves bytes.
/// It returns only when the machine finished: for a resumption that is after
/// R3 (the initiator's key confirmation) at the responder, after sending R3 at
/// the initiator, so neither side counts a replayed R1 as a channel.
///
/// The QP has no remote access rights during this exchange, so the worst an
/// unauthenticated peer can do is send messages the machine rejects.
enum InBandHandshake {
    static func run(
        _ machine: HandshakeMachine, over qp: QueuePair, resources: ChannelResources, timeout: Duration,
        firstMessage: [UInt8]? = nil
    ) throws(ChannelError) -> HandshakeResult {
        let deadline = ChannelClock.deadline(after: timeout)
        var output: HandshakeOutput
        if machine.role == .initiator {
            output = machine.start(now: ChannelClock.wall())
        } else {
            let first: [UInt8]
            if let firstMessage {
                first = firstMessage
            } else {
                first = try receive(qp: qp, resources: resources, machine: machine, deadline: deadline)
            }
            output = machine.receive(first, now: ChannelClock.wall())
        }
        while true {
            switch output {
            case .send(let bytes):
                try send(bytes, qp: qp, resources: resources, deadline: deadline)
                let message = try receive(qp: qp, resources: resources, machine: machine, deadline: deadline)
                output = machine.receive(message, now: ChannelClock.wall())
            case .sendAndFinish(let bytes, let result):
                try send(bytes, qp: qp, resources: resources, deadline: deadline)
                try resources.drainSends(deadline: deadline)
                return result
            case .finished(let result):
                try resources.drainSends(deadline: deadline)
                return result
            case .abort(let error, let alert):
                if let alert {
                    // Best effort: the peer should learn why, but we fail either way.
                    try? send(alert, qp: qp, resources: resources, deadline: deadline)
                    try? resources.drainSends(deadline: deadline)
                }
                throw .handshake(error)
            }
        }
    }

    /// From a send slot, or the handshake send buffer when slots are smaller
    /// (ChannelResources: handshake buffers).
    private static func send(_ bytes: [UInt8], qp: QueuePair, resources: ChannelResources, deadline: UInt64) throws(ChannelError) {
        try resources.postHandshakeMessage(bytes, on: qp, deadline: deadline)
    }

    /// The next message from the peer; on our deadline, the machine's own timeout verdict.
    private static func receive(
        qp: QueuePair, resources: ChannelResources, machine: HandshakeMachine, deadline: UInt64
    ) throws(ChannelError) -> [UInt8] {
        let slot: Int
        let length: Int
        do {
            (slot, length) = try resources.nextReceive(deadline: deadline)
        } catch .timedOut(let what) {
            if case .abort(let error, _)? = machine.checkTimeout(now: ChannelClock.wall()) {
                throw .handshake(error)
            }
            throw .timedOut("handshake: \(what)")
        }
        let message = Array(UnsafeRawBufferPointer(rebasing: resources.receiveSlot(slot)[0..<length]))
        try ChannelError.lowering { try qp.post(resources.receiveRequest(slot: slot)) }
        return message
    }
}
