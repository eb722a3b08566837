import Testing
@testable import FabricAuth

/// A READ offer's data is admitted when its authentic offer arrives (sequence
/// taken, epoch key held) and verified when the READ completes, however late
/// (issue 12 item 6). Each test first shows that checking at completion alone
/// refuses the genuine READ.
@Suite struct OfferedReadTests {
    typealias Detached = DetachedMessageTests.Detached

    static func admit(_ r: inout DataPathReceiver, _ m: Detached) -> AdmittedRead {
        m.header.withUnsafeBytes { r.admitOfferedRead(header: $0.baseAddress!, now: 0) }
    }

    static func verify(_ r: inout DataPathReceiver, key: EpochKey, _ m: Detached) -> Opened {
        m.header.withUnsafeBytes { h in
            m.tag.withUnsafeBytes { t in
                m.payload.withUnsafeBytes { p in
                    switch r.verifyAdmittedRead(key: key, header: h.baseAddress!, payload: p, tag: t.baseAddress!) {
                    case .delivered(let o): return .delivered(o.header, Array(o.payload))
                    case .rejected(let reason, let a): return .rejected(reason, a)
                    }
                }
            }
        }
    }

    static func key(_ a: AdmittedRead) -> EpochKey? {
        if case .admitted(let k) = a { return k }
        return nil
    }

    /// 3000 frames arrive between the offer and the READ's completion: far
    /// beyond the replay window.
    @Test(arguments: testedMACs)
    func readCompletingAfterManyLaterFramesVerifies(mac: TestedMAC) throws {
        var s = try DetachedMessageTests.sender(mac)
        var r = try DetachedMessageTests.receiver(mac)
        let data = try DetachedMessageTests.seal(&s, Array(repeating: 0x5A, count: 4096), opcode: .rdmaRead)
        let key = try #require(Self.key(Self.admit(&r, data)))
        #expect(DetachedMessageTests.open(&r, data).reason == .replayed, "admitted: the window holds its sequence")
        for i in 0..<3000 { #expect(r.openFrame(try s.sealFrame([UInt8(truncatingIfNeeded: i)])).isDelivered) }
        #expect(Self.verify(&r, key: key, data).isDelivered)

        // Without admission the same READ is refused as too old.
        var s2 = try DetachedMessageTests.sender(mac, seed: 2)
        var r2 = try DetachedMessageTests.receiver(mac, seed: 2)
        let data2 = try DetachedMessageTests.seal(&s2, Array(repeating: 0x5A, count: 4096), opcode: .rdmaRead)
        for _ in 0..<3000 { _ = r2.openFrame(try s2.sealFrame([1])) }
        #expect(DetachedMessageTests.open(&r2, data2).reason == .tooOld)
    }

    /// The owner rekeys several times and the previous epoch's grace ends
    /// before the READ completes: the held key still verifies it.
    @Test(arguments: testedMACs)
    func readCompletingAfterRekeysAndGraceVerifies(mac: TestedMAC) throws {
        var c = try mac.configure(.dropping)
        c.rekeyAfterMessages = 4
        c.previousEpochGraceMessages = 2
        c.previousEpochGraceNanoseconds = 1_000
        var s = try DataPathSender(trafficSecret: rawBytes(secretBytes(3)), suite: mac.suite, direction: .initiatorToResponder,
            remoteQPN: DetachedMessageTests.qpn, configuration: c, now: 0)
        var r = try DataPathReceiver(trafficSecret: rawBytes(secretBytes(3)), suite: mac.suite, direction: .initiatorToResponder,
            localQPN: DetachedMessageTests.qpn, configuration: c, now: 0)
        let data = try DetachedMessageTests.seal(&s, Array(repeating: 7, count: 100), opcode: .rdmaRead)
        let key = try #require(Self.key(Self.admit(&r, data)))
        for i in 0..<20 { #expect(r.openFrame(try s.sealFrame([UInt8(i)]), now: 10_000).isDelivered) }
        #expect(r.epoch >= 4)
        #expect(DetachedMessageTests.open(&r, data).reason == .retiredEpoch, "checked at completion alone: refused")
        #expect(Self.verify(&r, key: key, data).isDelivered)
    }

    /// Admission is not a way around the checks: altered data fails the MAC,
    /// a second offer of the same header is a replay, a WRITE header is no
    /// READ, and each is counted.
    @Test(arguments: testedMACs)
    func admittedReadsStillFailWhenTheyShould(mac: TestedMAC) throws {
        var s = try DetachedMessageTests.sender(mac)
        var r = try DetachedMessageTests.receiver(mac)
        var data = try DetachedMessageTests.seal(&s, Array(repeating: 1, count: 64), opcode: .rdmaRead)
        let key = try #require(Self.key(Self.admit(&r, data)))
        guard case .refused(.replayed) = Self.admit(&r, data) else { Issue.record("second admission"); return }
        data.payload[10] ^= 1
        #expect(Self.verify(&r, key: key, data).reason == .badTag)
        let write = try DetachedMessageTests.seal(&s, [1, 2, 3], opcode: .rdmaWrite)
        guard case .refused(.malformedHeader) = Self.admit(&r, write) else { Issue.record("WRITE header admitted"); return }
        #expect(r.metrics.failures[.badTag] == 1)
    }
}
