/// Entry points for the libFuzzer targets in Fuzz/ (docs/fuzzing.md) into code that is
/// internal: the rendezvous control-message parsers and the re-authentication reassembly. SPI, not API:
/// `@_spi(Fuzzing) import FabricAuth`.
@_spi(Fuzzing) public enum FabricAuthFuzzing {
    /// Runs the WriteGrant, ReadOffer and ReadDone parsers on `bytes` (as the receive
    /// pipeline does after the carrying frame verified and was decrypted) and returns how
    /// many accepted.
    /// Traps when an accepted message does not encode back to the bytes it was read from
    /// (reserved fields are zero, so parse and encode are inverse).
    @discardableResult
    public static func parseControlMessages(_ bytes: UnsafeRawBufferPointer) -> Int {
        var accepted = 0
        var scratch = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &scratch) { out in
            if let grant = ControlMessage.WriteGrant(bytes) {
                accepted += 1
                grant.encode(to: out.baseAddress!)
                precondition(out.prefix(ControlMessage.WriteGrant.size).elementsEqual(bytes), "WriteGrant round trip")
            }
            if let offer = ControlMessage.ReadOffer(bytes) {
                accepted += 1
                offer.encodePrefix(to: out.baseAddress!)
                precondition(out.prefix(ControlMessage.ReadOffer.dataOffset)
                    .elementsEqual(bytes.prefix(ControlMessage.ReadOffer.dataOffset)), "ReadOffer round trip")
            }
            if let done = ControlMessage.ReadDone(bytes) {
                accepted += 1
                done.encode(to: out.baseAddress!)
                precondition(out.prefix(ControlMessage.ReadDone.size).elementsEqual(bytes), "ReadDone round trip")
            }
        }
        return accepted
    }

    /// Feeds `bytes` to the re-authentication reassembly as the receive pipeline does with
    /// authentic opcode-8 frames: a sequence of fragments, each a length byte `n` and then
    /// `n` bytes (flags and piece). A refused fragment closes the channel, so the next
    /// fragment starts a new reassembly. Returns the messages completed. Traps when a
    /// completed message is not exactly the pieces fed since the previous one, or exceeds
    /// the limit.
    @discardableResult
    public static func reassembleFragments(_ bytes: UnsafeRawBufferPointer) -> Int {
        var reassembly = ReauthenticationReassembly()
        var pieces: [UInt8] = []
        var completed = 0
        var i = 0
        while i < bytes.count {
            let end = min(i + 1 + Int(bytes[i]), bytes.count)
            let fragment = UnsafeRawBufferPointer(rebasing: bytes[(i + 1)..<end])
            i = end
            do {
                let message = try reassembly.add(fragment)
                pieces += fragment.dropFirst()
                if let message {
                    precondition(message == pieces, "reassembled message differs from its pieces")
                    precondition(message.count <= ReauthenticationReassembly.maxMessageSize, "message over the limit")
                    precondition(!reassembly.isPartial, "reassembly not reset after a message")
                    pieces = []
                    completed += 1
                }
            } catch {
                reassembly = ReauthenticationReassembly()
                pieces = []
            }
        }
        return completed
    }

    /// One valid message of each kind (the ReadOffer's data header is a READ header;
    /// its tag is not checked by the parser).
    public static func controlMessageSeeds() -> [(name: String, bytes: [UInt8])] {
        var grant = [UInt8](repeating: 0, count: ControlMessage.WriteGrant.size)
        grant.withUnsafeMutableBytes {
            ControlMessage.WriteGrant(index: 3, generation: 7, tag: 0x42, rkey: 0x1234, address: 0x7f00_dead_0000,
                                      capacity: 65536).encode(to: $0.baseAddress!)
        }
        var offer = [UInt8](repeating: 0, count: ControlMessage.ReadOffer.size)
        offer.withUnsafeMutableBytes { p in
            ControlMessage.ReadOffer(index: 1, generation: 2, tag: 0x43).encodePrefix(to: p.baseAddress!)
            FrameHeader(suite: .chacha20Poly1305, opcode: .rdmaRead, direction: .initiatorToResponder, epoch: 0,
                          qpn: 0x123, length: 4096, sequence: 9, remoteAddress: 0x7f00_beef_0000, rkey: 0x5678)
                .encode(to: p.baseAddress! + ControlMessage.ReadOffer.dataOffset)
        }
        var done = [UInt8](repeating: 0, count: ControlMessage.ReadDone.size)
        done.withUnsafeMutableBytes { ControlMessage.ReadDone(index: 1, generation: 2).encode(to: $0.baseAddress!) }
        // Three re-authentication fragments: a 2-piece message, then a 1-piece one.
        let fragments: [UInt8] = [3, 1, 0xAA, 0xBB, 2, 0, 0xCC, 4, 0, 0x02, 0x10, 0x00]
        return [("write-grant", grant), ("read-offer", offer), ("read-done", done), ("reauth-fragments", fragments)]
    }
}
