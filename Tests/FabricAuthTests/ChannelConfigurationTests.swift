// ChannelConfiguration's sizes and depths: the defaults allow NCCL's 32
// outstanding requests per direction in less slot memory than before, and
// every configuration that can't make a working channel is refused before
// any verbs resource, with an error naming the field.
import Identity
import Testing
@testable import FabricAuth

@Suite struct ChannelConfigurationTests {
    static func configuration() throws -> ChannelConfiguration {
        let domain = "config.fabricauth.test"
        let authority = try CertificateAuthority.create(trustDomain: domain).authority
        let issued = try authority.issue(id: try SPIFFEID("spiffe://\(domain)/rank0"), ttl: 3600)
        return ChannelConfiguration(credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
            verifier: IdentityVerifier(bundles: [try TrustBundle(trustDomain: domain, anchors: [authority.certificate])]),
            policy: try Policy(text: "allow domain \(domain)"))
    }

    /// The field an `invalidConfiguration` error names, or nil for any other outcome.
    static func refusal(_ c: ChannelConfiguration) -> String? {
        do throws(ChannelError) {
            try c.validate()
            return nil
        } catch {
            guard case .invalidConfiguration(let why) = error else { return "\(error)" }
            return why
        }
    }

    @Test func defaultsAllowThirtyTwoOutstandingInLessSlotMemory() throws {
        let c = try Self.configuration()
        #expect(c.remoteAccessDepth == 32)
        #expect(c.writeTargets == 32)
        #expect(c.receiveDepth == c.minimumReceiveDepth && c.minimumReceiveDepth == 66)
        #expect(Self.refusal(c) == nil)
        // Before: 32 send + 32 receive slots of 64 KiB + 56 bytes (4 MiB), depth 8.
        let before = 64 * (64 * 1024 + DataPathLimits.frameOverhead)
        #expect(c.registeredSlotBytes < before)
        #expect(c.slotSize == DataPathLimits.frameOverhead + 32 * 1024)
    }

    @Test func slotsFollowMaxMessageSizeDownToTheLargestControlMessage() throws {
        var c = try Self.configuration()
        c.maxMessageSize = 0
        #expect(c.slotSize == DataPathLimits.frameOverhead + ControlMessage.ReadOffer.size)
        #expect(ControlMessage.WriteGrant.size <= ControlMessage.ReadOffer.size && ControlMessage.ReadDone.size <= ControlMessage.ReadOffer.size)
        // Slots this small need the handshake buffers: 2 receive and 1 send of 24 KiB.
        #expect(c.registeredSlotBytes == (c.sendDepth + c.receiveDepth) * c.slotSize + 3 * 24 * 1024)
        #expect(Self.refusal(c) == nil)
    }

    @Test func tooFewReceiveSlotsForTheDepthIsRefused() throws {
        var c = try Self.configuration()
        c.receiveDepth = 65
        #expect(Self.refusal(c)?.hasPrefix("receiveDepth 65 must be at least 66") == true)
        c.writeTargetWindows = 256
        c.receiveDepth = 513
        #expect(Self.refusal(c)?.hasPrefix("receiveDepth 513 must be at least 514") == true)
        c.receiveDepth = 514
        #expect(Self.refusal(c) == nil)
    }

    @Test func depthsOutsideTheirRangesAreRefused() throws {
        var c = try Self.configuration()
        c.remoteAccessDepth = 257
        c.receiveDepth = 1000
        #expect(Self.refusal(c)?.hasPrefix("remoteAccessDepth 257") == true)
        c.remoteAccessDepth = -1
        #expect(Self.refusal(c)?.hasPrefix("remoteAccessDepth -1") == true)
        c.remoteAccessDepth = 32
        c.writeTargetWindows = 0
        #expect(Self.refusal(c)?.hasPrefix("writeTargetWindows 0") == true)
        c.writeTargetWindows = 257
        #expect(Self.refusal(c)?.hasPrefix("writeTargetWindows 257") == true)
        c.writeTargetWindows = nil
        c.sendDepth = 0
        #expect(Self.refusal(c)?.hasPrefix("sendDepth 0") == true)
        c.sendDepth = 32
        c.maxMessageSize = -1
        #expect(Self.refusal(c)?.hasPrefix("maxMessageSize -1") == true)
        c.maxMessageSize = c.dataPath.maxPayloadBytes + 1
        #expect(Self.refusal(c)?.hasPrefix("maxMessageSize") == true)
    }

    /// remoteAccessDepth 0: a SEND-only channel, two receive slots are enough; windows can't be asked for.
    @Test func sendOnlyChannel() throws {
        var c = try Self.configuration()
        c.remoteAccessDepth = 0
        c.receiveDepth = 2
        #expect(c.writeTargets == 0)
        #expect(Self.refusal(c) == nil)
        c.receiveDepth = 1
        #expect(Self.refusal(c)?.hasPrefix("receiveDepth 1 must be at least 2") == true)
        c.receiveDepth = 2
        c.writeTargetWindows = 8
        #expect(Self.refusal(c)?.hasPrefix("writeTargetWindows 8") == true)
    }

    @Test func tooManyOutstandingSaysWhatAndTheLimit() {
        #expect("\(ChannelError.tooManyOutstanding(what: "receives", limit: 32))"
            == "all 32 receives are outstanding; test one to completion first")
        #expect("\(ChannelError.tooManyOutstanding(what: "receives", limit: 0))" == "this channel has no receives (remoteAccessDepth 0)")
    }
}
