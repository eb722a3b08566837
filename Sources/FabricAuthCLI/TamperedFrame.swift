import FabricAuth
import Verbs

/// What an on-path attacker who predicted the QPN and PSN (ReDMArk) can put on
/// the victim's queue pair: a frame with a well-formed header for the next
/// sequence number and a payload of its choosing, but no valid tag, because
/// it does not hold the key. Posted on the sender's QP so the PSN is right.
enum TamperedFrame {
    static func inject(on sender: AuthenticatedQueuePair, victim: AuthenticatedQueuePair) throws {
        let payload = Array("gradient shard 7 (poisoned)".utf8)
        var frame = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead + payload.count)
        frame[0] = DataPathLimits.wireVersion
        frame[1] = sender.suite.rawValue
        frame[2] = DataPathOpcode.send.rawValue
        frame[3] = Direction.initiatorToResponder.rawValue
        put(UInt32(sender.sendEpoch), at: 4, in: &frame)
        put(victim.queuePair.number, at: 8, in: &frame)
        put(UInt32(payload.count), at: 12, in: &frame)
        put(UInt64(sender.sendMetrics.messagesSealed), at: 16, in: &frame)  // the next sequence number
        frame.replaceSubrange(DataPathLimits.headerSize..<(DataPathLimits.headerSize + payload.count), with: payload)
        for i in (frame.count - DataPathLimits.tagSize)..<frame.count { frame[i] = UInt8(truncatingIfNeeded: i &* 131) }

        let region = try sender.queuePair.protectionDomain.allocateRegion(bytes: frame.count)
        frame.withUnsafeBytes { region.bytes.copyMemory(from: $0) }
        try sender.queuePair.post(SendRequest(id: 0xA77AC, operation: .send, element: region.element(0..<frame.count)))
        for wc in try sender.queuePair.sendCompletionQueue.poll(count: 1, timeout: .seconds(10)) { try wc.check() }
    }

    private static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in frame: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { frame.replaceSubrange(offset..<(offset + MemoryLayout<T>.size), with: $0) }
    }
}
