import FabricAuth
import Identity
import XCTest

@testable import NCCLNetPlugin

/// The plug-in's request limits against NCCL's contract, without a device:
/// NCCL_NET_MAX_REQUESTS outstanding requests per comm, each possibly a
/// grouped receive of getProperties' maxRecvs buffers, in a channel
/// configuration that validates and keeps its slots small; a full request
/// table answers isend/irecv with a NULL request (NCCL retries), every other
/// failure with an error.
final class PluginLimitsTests: XCTestCase {
    func testThirtyTwoRequestsOfEightBuffersEach() {
        XCTAssertEqual(PluginRuntime.maxRequests, 32, "NCCL_NET_MAX_REQUESTS in NCCL's net.h")
        XCTAssertEqual(PluginComm.requestsPerComm, PluginRuntime.maxRequests)
        XCTAssertEqual(PluginRuntime.maxRecvs, 8, "NCCL_NET_MAX_RECVS, reported as maxRecvs")
        XCTAssertEqual(PluginRuntime.windowsPerComm, PluginRuntime.maxRequests * PluginRuntime.maxRecvs)
    }

    func testTheChannelConfigurationValidatesAndStaysSmall() throws {
        let domain = "plugin.fabricauth.test"
        let authority = try CertificateAuthority.create(trustDomain: domain).authority
        let issued = try authority.issue(id: try SPIFFEID("spiffe://\(domain)/rank0"), ttl: 3600)
        let base = ChannelConfiguration(credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
            verifier: IdentityVerifier(bundles: [try TrustBundle(trustDomain: domain, anchors: [authority.certificate])]),
            policy: try Policy(text: "allow domain \(domain)"))
        let c = PluginRuntime.channelConfiguration(base)
        XCTAssertNoThrow(try c.validate())
        XCTAssertEqual(c.remoteAccessDepth, 32)
        XCTAssertEqual(c.writeTargetWindows, 256)
        XCTAssertEqual(c.receiveDepth, 514)
        XCTAssertEqual(c.maxMessageSize, 0, "data moves by WRITE; SEND carries control messages only")
        // 578 slots for control messages plus the three 24 KiB handshake
        // buffers: well under the 3 MiB that 130 slots of 24 KiB took.
        XCTAssertLessThan(c.registeredSlotBytes, 160 * 1024)
    }

    func testOnlyAFullRequestTableAsksNCCLToRetry() {
        XCTAssertTrue(ChannelError.tooManyOutstanding(what: "receives", limit: 32).asksNCCLToRetry)
        let failures: [ChannelError] = [
            .closed, .invalidRequest("x"), .receiveBufferTooSmall(needed: 2, available: 1), .timedOut("x"),
            .protocolViolation("x"), .cancelled("x"), .invalidConfiguration("x"),
        ]
        for error in failures { XCTAssertFalse(error.asksNCCLToRetry, "\(error)") }
        XCTAssertEqual(ChannelError.invalidConfiguration("x").pluginResult, .internalError)
        XCTAssertEqual(ChannelError.closed.pluginResult, .systemError)
    }
}
