@_spi(RawQueuePair) import FabricAuth
import Verbs

/// What an on-path attacker who predicted the QPN and PSN (ReDMArk) can put on
/// the victim's queue pair: a frame with a well-formed header for the next
/// sequence number and a payload of its choosing, but no valid tag, because
/// it does not hold the key. Posted on the sender's QP so the PSN is right.
enum TamperedFrame {
    static func inject(on sender: AuthenticatedQueuePair, victim: AuthenticatedQueuePair) throws {
        let payload = Array("gradient shard 7 (poisoned)".utf8)
        var frame = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead + payload.count)
        frame.withUnsafeMutableBytes { f in
            FrameHeader(suite: sender.suite, opcode: .send, direction: .initiatorToResponder, epoch: sender.sendEpoch,
                qpn: victim.queuePairNumber, length: UInt32(payload.count),
                sequence: sender.sendMetrics.messagesSealed  // the next sequence number (no rekey has happened)
            ).encode(to: f.baseAddress!)
        }
        frame.replaceSubrange(DataPathLimits.headerSize..<(DataPathLimits.headerSize + payload.count), with: payload)
        for i in (frame.count - DataPathLimits.tagSize)..<frame.count { frame[i] = UInt8(truncatingIfNeeded: i &* 131) }

        let region = try sender.queuePair.protectionDomain.allocateRegion(bytes: frame.count)
        frame.withUnsafeBytes { region.bytes.copyMemory(from: $0) }
        try sender.queuePair.post(SendRequest(id: 0xA77AC, operation: .send, element: region.element(0..<frame.count)))
        for wc in try sender.queuePair.sendCompletionQueue.poll(count: 1, timeout: .seconds(10)) { try wc.check() }
    }
}
