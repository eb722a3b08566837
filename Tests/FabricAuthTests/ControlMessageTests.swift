import Testing
@testable import FabricAuth

/// The rendezvous control messages: exact round trips, and a seeded mutation
/// run over the three parsers (they only ever see payloads of authentic
/// frames, but a buggy or hostile peer must not crash or confuse them).
@Suite struct ControlMessageTests {
    @Test func writeGrantRoundTripAndStrictness() {
        let grant = ControlMessage.WriteGrant(index: 3, generation: 0xAABB_CCDD, tag: 7, rkey: 0x1234_5678,
                                              address: 0x7F00_DEAD_BEEF_0000, capacity: 4096)
        var bytes = [UInt8](repeating: 0xFF, count: ControlMessage.WriteGrant.size)
        bytes.withUnsafeMutableBytes { grant.encode(to: $0.baseAddress!) }
        #expect(bytes.withUnsafeBytes { ControlMessage.WriteGrant($0) } == grant)
        // Big-endian on the wire.
        #expect(Array(bytes[12..<16]) == [0x12, 0x34, 0x56, 0x78])
        var reserved = bytes
        reserved[31] = 1
        #expect(reserved.withUnsafeBytes { ControlMessage.WriteGrant($0) } == nil)
        var empty = bytes
        empty[24...27] = [0, 0, 0, 0]
        #expect(empty.withUnsafeBytes { ControlMessage.WriteGrant($0) } == nil, "a zero-byte window is never granted")
        #expect((bytes + [0]).withUnsafeBytes { ControlMessage.WriteGrant($0) } == nil)
        #expect(bytes.dropLast().withUnsafeBytes { ControlMessage.WriteGrant($0) } == nil)
    }

    @Test func readOfferAndDoneStrictness() {
        var offer = [UInt8](repeating: 0, count: ControlMessage.ReadOffer.size)
        offer.withUnsafeMutableBytes {
            ControlMessage.ReadOffer(index: 1, generation: 2, tag: 3).encodePrefix(to: $0.baseAddress!)
        }
        // The data header must be a READ header.
        #expect(offer.withUnsafeBytes { ControlMessage.ReadOffer($0) } == nil)
        offer[ControlMessage.ReadOffer.dataOffset + 2] = DataPathOpcode.rdmaRead.rawValue
        let parsed = offer.withUnsafeBytes { ControlMessage.ReadOffer($0) }
        #expect(parsed?.index == 1 && parsed?.generation == 2 && parsed?.tag == 3)
        offer[13] = 1
        #expect(offer.withUnsafeBytes { ControlMessage.ReadOffer($0) } == nil)

        var done = [UInt8](repeating: 0, count: ControlMessage.ReadDone.size)
        done.withUnsafeMutableBytes { ControlMessage.ReadDone(index: 5, generation: 6).encode(to: $0.baseAddress!) }
        #expect(done.withUnsafeBytes { ControlMessage.ReadDone($0) } == ControlMessage.ReadDone(index: 5, generation: 6))
        done[15] = 1
        #expect(done.withUnsafeBytes { ControlMessage.ReadDone($0) } == nil)
    }

    /// 300,000 seeded inputs: random lengths and bytes, and single/multi-byte
    /// mutations of valid messages. A parse succeeds only for the exact size
    /// with reserved bytes zero; nothing traps.
    @Test func mutationRun() {
        var rng = SplitMix64(seed: 0xC0_47_01)
        var valid = [UInt8](repeating: 0, count: ControlMessage.WriteGrant.size)
        valid.withUnsafeMutableBytes {
            ControlMessage.WriteGrant(index: 1, generation: 1, tag: 1, rkey: 1, address: 1, capacity: 1).encode(to: $0.baseAddress!)
        }
        var accepted = 0
        for i in 0..<300_000 {
            var input: [UInt8]
            if i % 2 == 0 {
                input = rng.bytes(Int.random(in: 0...96, using: &rng))
            } else {
                input = valid
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                if i % 7 == 1 { input.append(contentsOf: rng.bytes(Int.random(in: 1...8, using: &rng))) }
            }
            input.withUnsafeBytes { b in
                if let g = ControlMessage.WriteGrant(b) {
                    accepted += 1
                    #expect(b.count == 32 && g.capacity > 0 && b[28] == 0 && b[29] == 0 && b[30] == 0 && b[31] == 0)
                }
                if ControlMessage.ReadOffer(b) != nil { #expect(b.count == ControlMessage.ReadOffer.size) }
                if ControlMessage.ReadDone(b) != nil { #expect(b.count == 16) }
            }
        }
        #expect(accepted > 0, "mutations that keep the structure valid are accepted")
    }
}
