// What the plug-in writes to NCCL's log about peers: the reason phrase of
// each kind of refusal (the device tests check the same phrases in the
// harness's log for real refused ranks), and one announcement per peer.
import FabricAuth
import Handshake
@testable import NCCLNetPlugin
import XCTest

final class PluginPeerLogTests: XCTestCase {
    func rejected(_ reason: PeerRejection.Reason) -> ChannelError {
        .handshake(HandshakeError(.peerRejected, "detail", rejection: PeerRejection(reason, "detail")))
    }

    func testTheVerifyingRankNamesWhatIsWrongWithTheCertificate() {
        XCTAssertEqual(PluginPeerLog.reason(of: rejected(.expired)), "peer certificate expired")
        XCTAssertEqual(PluginPeerLog.reason(of: rejected(.revoked)), "peer certificate revoked")
        XCTAssertEqual(PluginPeerLog.reason(of: rejected(.untrustedIssuer)),
            "peer certificate not issued by a CA in FABRICAUTH_BUNDLE")
        XCTAssertEqual(PluginPeerLog.reason(of: rejected(.notYetValid)), "peer certificate not yet valid")
        XCTAssertEqual(PluginPeerLog.reason(of: .handshake(HandshakeError(.policyDenied, "spiffe://x/y: no rule"))),
            "policy denies peer")
        XCTAssertEqual(PluginPeerLog.reason(of: .handshake(HandshakeError(.quarantined))), "peer quarantined")
    }

    func testTheRefusedRankLearnsOnlyThatItsPeerRefusedIt() {
        let aborted = { (code: HandshakeErrorCode) -> ChannelError in
            .handshake(HandshakeError(.peerAborted, remoteCode: code))
        }
        XCTAssertEqual(PluginPeerLog.reason(of: aborted(.peerRejected)), "peer refused this rank's certificate")
        XCTAssertEqual(PluginPeerLog.reason(of: aborted(.policyDenied)), "peer's policy denies this rank")
        XCTAssertEqual(PluginPeerLog.reason(of: aborted(.timeout)), "peer aborted the handshake (timeout)")
    }

    func testOtherSetupFailuresAreNamedToo() {
        XCTAssertEqual(PluginPeerLog.reason(of: .timedOut("accept")), "setup timed out")
        XCTAssertEqual(PluginPeerLog.reason(of: .handshake(HandshakeError(.badSignature))), "handshake failed (badSignature)")
    }

    /// The channel's lines about each connection's set-up are TRACE; its events stay INFO.
    /// (Texts from AuthenticatedConnector, CertificatePeerVerifier, Decision and the receive path.)
    func testChannelSetUpLinesAreTraceAndEventsStayInfo() {
        for line in [
            "authenticated spiffe://a.test/rank1 on QP 17 (suite aes256gmac)",
            "handshake on QP 17 failed: handshake failed: peerRejected: expired",
            "peer rejected: validity.expired: certificate expired",
            "peer spiffe://a.test/rank1: certificate chain verified",
            "peer spiffe://a.test/rank1: allow: rule FABRICAUTH_ALLOW",
            "peer spiffe://a.test/outsider: deny: no rule matches",
        ] {
            XCTAssertTrue(PluginPeerLog.isPerConnectionSetup(line), line)
        }
        for line in [
            "rejected a message from spiffe://a.test/rank1: bad tag",
            "closing channel to spiffe://a.test/rank1: peer no longer valid",
            "peer spiffe://a.test/rank1 no longer valid: revocation: revoked",
            "peer spiffe://a.test/rank1: quarantined: 3 denied handshakes",
            "dropped 2 cached session(s) whose peer no longer passes",
        ] {
            XCTAssertFalse(PluginPeerLog.isPerConnectionSetup(line), line)
        }
    }

    func testEachPeerIsAnnouncedOncePerProcess() {
        let peer = "spiffe://log.test/\(UUID().uuidString)"
        XCTAssertTrue(PluginPeerLog.verified(peer: peer, "send comm to 10.0.0.1:1, QP 1"))
        XCTAssertFalse(PluginPeerLog.verified(peer: peer, "recv comm on port 2, QP 2"))
        XCTAssertFalse(PluginPeerLog.verified(peer: peer, "send comm to 10.0.0.1:3, QP 3"))
        XCTAssertTrue(PluginPeerLog.verified(peer: peer + "-other", "send comm to 10.0.0.1:4, QP 4"))
    }
}
