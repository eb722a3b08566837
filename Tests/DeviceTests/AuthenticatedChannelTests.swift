// The authenticated queue pair end to end on a real verbs device: real
// certificates from FabricAuth's CA, the in-band handshake over a new RC QP,
// and sealed SEND/RECV traffic checked byte for byte.
import Dispatch
import FabricAuth
import Handshake
import Foundation
import Identity
import Verbs
import X509
import XCTest

final class AuthenticatedChannelTests: XCTestCase {
    /// One trust domain, two workloads, and a policy that allows the domain.
    struct Cluster {
        let authority: CertificateAuthority
        let verifier: IdentityVerifier

        init(trustDomain: String = "cluster.test", revocations: RevocationStore = RevocationStore()) throws {
            authority = try CertificateAuthority.create(trustDomain: trustDomain).authority
            verifier = IdentityVerifier(
                bundles: [try TrustBundle(trustDomain: trustDomain, anchors: [authority.certificate])],
                revocations: revocations)
        }

        func configuration(id: String, policy: String, ttl: TimeInterval = 3600, now: Date = Date()) throws -> ChannelConfiguration {
            let issued = try authority.issue(id: try SPIFFEID(id), ttl: ttl, now: now)
            var c = ChannelConfiguration(
                credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
                verifier: verifier, policy: try Policy(text: policy))
            c.gidIndex = DeviceTestSupport.gidIndex
            c.maxMessageSize = 8192
            c.receiveDepth = 8
            c.sendDepth = 8
            c.setupTimeout = .seconds(20)
            return c
        }
    }

    /// Runs `accept` on another thread while this one connects; returns both outcomes.
    static func establish(
        context: Context, server: ChannelConfiguration, client: ChannelConfiguration
    ) throws -> (server: Result<AuthenticatedQueuePair, ChannelError>, client: Result<AuthenticatedQueuePair, ChannelError>) {
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        return try establish(context: context, listener: listener, client: client)
    }

    static func establish(
        context: Context, listener: AuthenticatedListener, client: ChannelConfiguration, resuming: ResumableSession? = nil
    ) throws -> (server: Result<AuthenticatedQueuePair, ChannelError>, client: Result<AuthenticatedQueuePair, ChannelError>) {
        let accepted = AcceptBox(listener)
        let done = DispatchSemaphore(value: 0)
        let port = listener.port
        Thread.detachNewThread {
            accepted.result = Result { () throws(ChannelError) in try accepted.listener.accept(timeout: .seconds(30)) }
            done.signal()
        }
        let connected = Result { () throws(ChannelError) in
            try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: port, configuration: client,
                resuming: resuming)
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "accept did not return")
        return (accepted.result!, connected)
    }

    func testHappyPathMessagesBothWays() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        let server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow prefix spiffe://cluster.test/trainer")
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow id spiffe://cluster.test/trainer/rank0")
        let (s, c) = try Self.establish(context: context, server: server, client: client)
        let responder = try s.get()
        let initiator = try c.get()
        XCTAssertEqual(responder.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        XCTAssertEqual(initiator.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank0")
        XCTAssertEqual(responder.suite, initiator.suite)

        for size in [0, 1, 63, 64, 1000, 1024, 4096, 8192] {
            let message = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) }
            try initiator.send(message)
            XCTAssertEqual(try responder.receive(), message, "initiator -> responder, \(size) bytes")
            try responder.send(message.reversed())
            XCTAssertEqual(try initiator.receive(), message.reversed(), "responder -> initiator, \(size) bytes")
        }
        try initiator.flush()
        try responder.flush()
        XCTAssertEqual(initiator.sendMetrics.messagesSealed, 8)
        XCTAssertEqual(responder.receiveMetrics.messagesOpened, 8)
        XCTAssertEqual(responder.receiveMetrics.failures.total, 0)
        XCTAssertThrowsError(try initiator.send([UInt8](repeating: 0, count: 8193))) { error in
            guard case ChannelError.dataPath(.payloadTooLarge(8193)) = error else { return XCTFail("\(error)") }
        }
    }

    func testImpostorFromAnotherCAIsRefusedAtBothEnds() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        let rogue = try Cluster()  // same trust domain name, different CA key
        let server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        // The impostor trusts the real CA (its certificate is public) but can
        // only present a certificate its own CA signed for a victim's name.
        let forged = try rogue.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        var impostor = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank9", policy: "allow domain cluster.test")
        impostor.credential = forged.credential
        let (s, c) = try Self.establish(context: context, server: server, client: impostor)
        guard case .failure(.handshake(let serverError)) = s else { return XCTFail("server accepted an impostor: \(s)") }
        XCTAssertEqual(serverError.code, .peerRejected, "\(serverError)")
        XCTAssertEqual(serverError.rejection?.reason, .untrustedIssuer, "\(serverError)")
        guard case .failure(.handshake(let clientError)) = c else { return XCTFail("impostor: \(c)") }
        XCTAssertEqual(clientError.code, .peerAborted, "\(clientError)")
        XCTAssertEqual(clientError.remoteCode, .peerRejected, "the impostor learns why: \(clientError)")
    }

    func testPolicyDenialIsRefusedAtBothEnds() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        let server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow prefix spiffe://cluster.test/trainer")
        let client = try cluster.configuration(id: "spiffe://cluster.test/inference/web", policy: "allow domain cluster.test")
        let (s, c) = try Self.establish(context: context, server: server, client: client)
        guard case .failure(.handshake(let serverError)) = s else { return XCTFail("server accepted a denied peer: \(s)") }
        XCTAssertEqual(serverError.code, .policyDenied, "\(serverError)")
        guard case .failure(.handshake(let clientError)) = c else { return XCTFail("denied client: \(c)") }
        XCTAssertEqual(clientError.code, .peerAborted, "\(clientError)")
        XCTAssertEqual(clientError.remoteCode, .policyDenied, "the client learns why: \(clientError)")
    }
}

extension AuthenticatedChannelTests {
    /// Many QPs, one proof: a second QP to the same listener resumes the first
    /// one's session (no certificates, fresh keys bound to the new QP) and
    /// carries traffic; after the client's certificate is revoked, the next
    /// resumption is refused at both ends.
    func testResumedQueuePairAndRevocation() throws {
        let context = try DeviceTestSupport.openContext()
        let revocations = RevocationStore()
        let cluster = try Cluster(revocations: revocations)
        let server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")

        let (s1, c1) = try Self.establish(context: context, listener: listener, client: client)
        let first = try c1.get()
        _ = try s1.get()
        XCTAssertFalse(first.resumed)
        XCTAssertEqual(listener.cachedSessions, 1)

        let (s2, c2) = try Self.establish(context: context, listener: listener, client: client, resuming: first.session)
        let resumedClient = try c2.get()
        let resumedServer = try s2.get()
        XCTAssertTrue(resumedClient.resumed)
        XCTAssertTrue(resumedServer.resumed)
        XCTAssertNotEqual(resumedClient.queuePair.number, first.queuePair.number)
        XCTAssertEqual(resumedServer.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        try resumedClient.send(Array("after resumption".utf8))
        XCTAssertEqual(String(decoding: try resumedServer.receive(), as: UTF8.self), "after resumption")

        var denied = RevocationList()
        denied.add(fingerprint: first.sessionPeerLeafFingerprint(of: client), entry: "test revocation")
        revocations.replace(with: denied)
        let (s3, c3) = try Self.establish(context: context, listener: listener, client: client, resuming: first.session)
        guard case .failure(.handshake(let serverError)) = s3 else { return XCTFail("revoked peer resumed: \(s3)") }
        XCTAssertEqual(serverError.code, .peerRevoked, "\(serverError)")
        guard case .failure(.handshake(let clientError)) = c3 else { return XCTFail("revoked client: \(c3)") }
        XCTAssertEqual(clientError.remoteCode, .peerRevoked, "\(clientError)")
    }
}

extension AuthenticatedQueuePair {
    /// The fingerprint of the leaf certificate `configuration` presents.
    func sessionPeerLeafFingerprint(of configuration: ChannelConfiguration) -> Fingerprint {
        Fingerprint(der: configuration.credential.chainDER[0])
    }
}

/// Hands the listener to the accepting thread and its result back; the
/// semaphore orders the accesses.
private final class AcceptBox: @unchecked Sendable {
    let listener: AuthenticatedListener
    init(_ listener: AuthenticatedListener) { self.listener = listener }
    var result: Result<AuthenticatedQueuePair, ChannelError>?
}
