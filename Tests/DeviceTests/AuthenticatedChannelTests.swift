// The authenticated queue pair end to end on a real verbs device: real
// certificates from FabricAuth's CA, the in-band handshake over a new RC QP,
// and sealed SEND/RECV traffic checked byte for byte.
import Dispatch
import Bootstrap
@_spi(RawQueuePair) @testable import FabricAuth
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
            // Slots smaller than a handshake message: every channel here also
            // runs its handshake through the separate handshake buffers.
            c.maxMessageSize = 8192
            c.remoteAccessDepth = 8
            c.receiveDepth = c.minimumReceiveDepth
            c.sendDepth = 8
            c.setupTimeout = .seconds(20)
            return c
        }
    }

    /// A connected pair in one trust domain whose policies allow each other;
    /// `configureBoth` adjusts both configurations, then `configure` the
    /// responder's (a trailing closure is `configure`).
    static func connectedPair(
        context: Context, configure: (inout ChannelConfiguration) -> Void = { _ in },
        configureBoth: (inout ChannelConfiguration) -> Void = { _ in }
    ) throws -> (responder: AuthenticatedQueuePair, initiator: AuthenticatedQueuePair) {
        let cluster = try Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        configureBoth(&server)
        configure(&server)
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        configureBoth(&client)
        let (s, c) = try establish(context: context, server: server, client: client)
        return (try s.get(), try c.get())
    }

    /// Runs `accept` on another thread while this one connects; returns both outcomes.
    static func establish(
        context: Context, server: ChannelConfiguration, client: ChannelConfiguration
    ) throws -> (server: Result<AuthenticatedQueuePair, ChannelError>, client: Result<AuthenticatedQueuePair, ChannelError>) {
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        return try establish(context: context, listener: listener, client: client)
    }

    static func establish(
        context: Context, listener: AuthenticatedListener, client: ChannelConfiguration, sessions: SessionCache? = nil
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
                sessions: sessions)
        }
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success, "accept did not return")
        return (accepted.result!, connected)
    }

    func testHappyPathMessagesBothWays() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow prefix spiffe://cluster.test/trainer")
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow id spiffe://cluster.test/trainer/rank0")
        server.handshakePayload = Array("rank0's memory-window keys".utf8)
        client.handshakePayload = Array("rank1's memory-window keys".utf8)
        let (s, c) = try Self.establish(context: context, server: server, client: client)
        let responder = try s.get()
        let initiator = try c.get()
        XCTAssertEqual(initiator.peerPayload, server.handshakePayload, "the payload travels inside the handshake")
        XCTAssertEqual(responder.peerPayload, client.handshakePayload)
        XCTAssertEqual(server.handshakeCounters.snapshot().fullCompleted, 1)
        XCTAssertEqual(client.handshakeCounters.snapshot().fullCompleted, 1)
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
        XCTAssertEqual(server.handshakeCounters.snapshot()[.peerRejected], 1, "refusals are counted by reason")
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

        // The client's sessions live in its cache, not in its channels.
        let sessions = SessionCache()
        let (s1, c1) = try Self.establish(context: context, listener: listener, client: client, sessions: sessions)
        let first = try c1.get()
        _ = try s1.get()
        XCTAssertFalse(first.resumed)
        XCTAssertEqual(listener.cachedSessions, 1)
        XCTAssertEqual(sessions.count, 1)

        let (s2, c2) = try Self.establish(context: context, listener: listener, client: client, sessions: sessions)
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
        let (s3, c3) = try Self.establish(context: context, listener: listener, client: client, sessions: sessions)
        guard case .failure(.handshake(let serverError)) = s3 else { return XCTFail("revoked peer resumed: \(s3)") }
        XCTAssertEqual(serverError.code, .peerRevoked, "\(serverError)")
        guard case .failure(.handshake(let clientError)) = c3 else { return XCTFail("revoked client: \(c3)") }
        XCTAssertEqual(clientError.remoteCode, .peerRevoked, "\(clientError)")
        XCTAssertEqual(sessions.count, 0, "a session the listener refused is forgotten")
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
final class AcceptBox: @unchecked Sendable {
    let listener: AuthenticatedListener
    init(_ listener: AuthenticatedListener) { self.listener = listener }
    var result: Result<AuthenticatedQueuePair, ChannelError>?
}

extension AuthenticatedChannelTests {
    /// An on-path attacker who can put packets on the victim's QP with the
    /// right PSN (what ReDMArk achieves by predicting QPN and PSN) injects a
    /// replayed frame, bit-flipped frames and a forged frame. None is
    /// delivered, each is counted by reason, and genuine traffic continues
    /// (drop-and-count policy).
    func testInjectedFramesAreRejectedAndCounted() throws {
        let context = try DeviceTestSupport.openContext()
        let (victim, sender) = try Self.connectedPair(context: context) { $0.dataPath.failurePolicy = .dropAndCount }

        let genuine = Array("genuine gradient shard".utf8)
        try sender.send(genuine)
        XCTAssertEqual(try victim.receive(), genuine)
        try sender.flush()
        // The frame as it crossed the wire, read back from the sender's ring.
        let frameLength = DataPathLimits.frameOverhead + genuine.count
        let slot = sender.resources.lastPostedSendSlot
        let captured = Array(UnsafeRawBufferPointer(rebasing: sender.resources.sendSlot(slot)[0..<frameLength]))

        let injector = try FrameInjector(queuePair: sender.queuePair)
        try injector.inject(captured)  // replay of an authentic frame
        // The rest claim the next sequence number (header bytes 16..<24, big
        // endian), so they pass the replay window and must fail on the tag.
        let sequenceLowByte = 23
        var flipped = captured
        flipped[sequenceLowByte] &+= 1
        flipped[DataPathLimits.headerSize + 3] ^= 0x01  // and a payload bit
        try injector.inject(flipped)
        var badTag = captured
        badTag[sequenceLowByte] &+= 1
        badTag[frameLength - 1] ^= 0x80  // and a tag bit
        try injector.inject(badTag)
        var forged = captured
        forged[sequenceLowByte] &+= 1  // a "new" message with the old tag
        try injector.inject(forged)

        let next = Array("next genuine shard".utf8)
        try sender.send(next)
        XCTAssertEqual(try victim.receive(), next, "only genuine messages are delivered, in order")
        let failures = victim.receiveMetrics.failures
        XCTAssertEqual(failures[.replayed], 1, "\(failures)")
        XCTAssertEqual(failures[.badTag], 3, "\(failures)")
        XCTAssertEqual(failures.total, 4, "\(failures)")
        XCTAssertEqual(victim.receiveMetrics.messagesOpened, 2)
        XCTAssertTrue(victim.isOpen)
    }

    /// Under the default fatal policy one forged frame tears the QP down: the
    /// receiver reports the reason, nothing is delivered, the QP is in ERROR.
    func testForgedFrameTearsDownUnderFatalPolicy() throws {
        let context = try DeviceTestSupport.openContext()
        let (victim, sender) = try Self.connectedPair(context: context)
        let payload = [UInt8](repeating: 0x42, count: 100)
        try sender.send(payload)
        XCTAssertEqual(try victim.receive(), payload)
        try sender.flush()
        var tampered = Array(UnsafeRawBufferPointer(rebasing: sender.resources.sendSlot(sender.resources.lastPostedSendSlot)[0..<(DataPathLimits.frameOverhead + 100)]))
        tampered[DataPathLimits.headerSize + 50] ^= 0xFF
        tampered[23] &+= 1  // next sequence number, so the tag decides
        try FrameInjector(queuePair: sender.queuePair).inject(tampered)
        XCTAssertThrowsError(try victim.receive(timeout: .seconds(10))) { error in
            guard case ChannelError.rejected(.badTag, tornDown: true) = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(victim.isOpen)
        XCTAssertEqual(try victim.queuePair.state(), .error)
        XCTAssertEqual(victim.receiveMetrics.failures[.badTag], 1)
        XCTAssertEqual(victim.receiveMetrics.messagesOpened, 1)
    }
}

/// Posts raw bytes as a SEND on a connected QP, bypassing the data path: the
/// attacker's view of the wire.
struct FrameInjector {
    let queuePair: QueuePair
    let region: MemoryRegion

    init(queuePair: QueuePair) throws {
        self.queuePair = queuePair
        region = try queuePair.protectionDomain.allocateRegion(bytes: 64 * 1024)
    }

    func inject(_ frame: [UInt8]) throws {
        frame.withUnsafeBytes { region.bytes.copyMemory(from: $0) }
        try queuePair.post(SendRequest(id: 0xBAD, operation: .send, element: region.element(0..<frame.count)))
        try queuePair.sendCompletionQueue.expectSuccess(1)
    }
}

extension AuthenticatedChannelTests {
    /// Sizes from 1 byte to 4 MiB, with a rekey every 3 messages so the key
    /// epoch changes in the middle of the stream without stopping traffic.
    func testSizesUpToFourMiBWithRekeysMidStream() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        for c in [0, 1] {
            var config = c == 0 ? server : client
            config.maxMessageSize = 4 << 20
            // SEND only (no windows): two receive slots are enough.
            config.remoteAccessDepth = 0
            config.receiveDepth = 2
            config.sendDepth = 2
            config.dataPath.rekeyAfterMessages = 3
            if c == 0 { server = config } else { client = config }
        }
        let (s, cl) = try Self.establish(context: context, server: server, client: client)
        let receiver = try s.get()
        let sender = try cl.get()
        let sizes = [1, 2, 255, 1024, 1025, 4096, 65_537, 1 << 20, 4 << 20]
        for (i, size) in sizes.enumerated() {
            var message = [UInt8](repeating: 0, count: size)
            for j in stride(from: 0, to: size, by: 97) { message[j] = UInt8(truncatingIfNeeded: j &+ i) }
            message[size - 1] = UInt8(truncatingIfNeeded: size)
            try sender.send(message, timeout: .seconds(60))
            let got = try receiver.receive(timeout: .seconds(60))
            XCTAssertEqual(got.count, size)
            XCTAssertTrue(got == message, "payload of \(size) bytes differs")
        }
        try sender.flush(timeout: .seconds(60))
        XCTAssertEqual(sender.sendMetrics.rekeys, UInt64((sizes.count - 1) / 3), "a rekey every 3 messages")
        XCTAssertEqual(sender.sendEpoch, UInt32((sizes.count - 1) / 3))
        XCTAssertEqual(receiver.receiveMetrics.messagesOpened, UInt64(sizes.count))
        XCTAssertEqual(receiver.receiveMetrics.failures.total, 0)
    }
}

extension AuthenticatedChannelTests {
    /// ReDMArk's attacker: a QP of its own on the same device that knows the
    /// victim's QPN and next expected PSN (here read from the device, the best
    /// an attacker can do). Its forged message is received by the RC layer but
    /// rejected by the MAC and never delivered; its RDMA WRITE into the victim's
    /// receive buffer, even with that buffer's real key, fails and changes no
    /// byte, because an authenticated QP and its memory grant no remote access.
    func testAttackerQueuePairCannotInjectOrWrite() throws {
        let context = try DeviceTestSupport.openContext()
        let (victim, sender) = try Self.connectedPair(context: context) { $0.dataPath.failurePolicy = .dropAndCount }
        try sender.send(Array("genuine".utf8))
        XCTAssertEqual(try victim.receive(), Array("genuine".utf8))
        try sender.flush()

        // A forged frame: a well-formed header for the next sequence, no valid tag.
        var frame = [UInt8](repeating: 0x5A, count: DataPathLimits.frameOverhead + 32)
        frame.withUnsafeMutableBytes { f in
            FrameHeader(suite: victim.suite, opcode: .send, direction: .initiatorToResponder, epoch: 0,
                qpn: victim.queuePair.number, length: 32, sequence: 1).encode(to: f.baseAddress!)
        }

        // The attacker is blind: the victim's ACKs and NAKs go to its real peer,
        // so the attacker's own request ends in an error whatever happened.
        let injection = try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
        frame.withUnsafeBytes { injection.region.bytes.copyMemory(from: $0) }
        try injection.queuePair.post(SendRequest(id: 1, operation: .send, element: injection.region.element(0..<frame.count)))
        _ = try injection.completionQueue.poll(count: 1, timeout: .seconds(20))
        XCTAssertThrowsError(try victim.receive(timeout: .seconds(3))) { error in
            guard case ChannelError.timedOut = error else { return XCTFail("expected nothing delivered, got \(error)") }
        }
        XCTAssertEqual(victim.receiveMetrics.failures[.badTag], 1, "the forged frame reached the MAC: \(victim.receiveMetrics.failures)")
        XCTAssertEqual(victim.receiveMetrics.messagesOpened, 1)

        // An RDMA WRITE into the victim's receive ring with the ring's real key:
        // the ring was registered for local access only and the QP grants none.
        let target = victim.resources.receiveRing
        let before = Array(UnsafeRawBufferPointer(rebasing: target.bytes[0..<4096]))
        let overwrite = try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
        try overwrite.queuePair.post(SendRequest(id: 2, operation: .write(RemoteMemory(address: target.address, rkey: target.rkey, length: 64)),
            element: overwrite.region.element(0..<64)))
        let wc = try overwrite.completionQueue.poll(count: 1, timeout: .seconds(20))[0]
        XCTAssertNotEqual(wc.status, .success)
        XCTAssertEqual(Array(UnsafeRawBufferPointer(rebasing: target.bytes[0..<4096])), before, "no byte may change")
        XCTAssertEqual(victim.receiveMetrics.messagesOpened, 1, "nothing more was delivered")
    }
}

/// A QP of the attacker's own on the victim's device, connected to the
/// victim's QPN with the PSN the victim expects next (read from the device:
/// the best an attacker who predicts PSNs can do).
struct AttackerQueuePair {
    let queuePair: QueuePair
    let completionQueue: CompletionQueue
    let region: MemoryRegion

    init(context: Context, aimedAt victim: QueuePair) throws {
        let pd = try context.makeProtectionDomain()
        completionQueue = try CompletionQueue(context: context, capacity: 16)
        var configuration = DeviceTestSupport.configuration()
        configuration.initialPSN = try victim.connectedPath().expectedReceivePSN
        let prepared = try pd.makeQueuePair(completionQueue: completionQueue, configuration: configuration)
        let target = QueuePairEndpoint(queuePairNumber: victim.number, packetSequenceNumber: 0,
            gid: prepared.endpoint.gid, lid: prepared.endpoint.lid, mtu: prepared.endpoint.mtu)
        queuePair = try prepared.connect(to: target, parameters: .shortRetry)
        region = try pd.allocateRegion(bytes: 4096)
    }
}

extension AuthenticatedChannelTests {
    /// The same handshake over librdmacm's connect/accept: both ends bind the
    /// PSNs librdmacm chose, traffic flows, and a denied peer is refused.
    func testRDMACMPathAuthenticatesAndRefuses() throws {
        guard let ip = DeviceTestSupport.ipv4 else {
            return XCTFail("FABRICAUTH_IPV4 is not set; \(DeviceTestSupport.howToGetOne)")
        }
        _ = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        let server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow prefix spiffe://cluster.test/trainer")
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        let listener = CMListenerBox(try AuthenticatedCMListener(address: ip, configuration: server))

        func run(_ client: ChannelConfiguration) -> (Result<AuthenticatedQueuePair, ChannelError>, Result<AuthenticatedQueuePair, ChannelError>) {
            let done = DispatchSemaphore(value: 0)
            let port = listener.listener.port
            Thread.detachNewThread {
                listener.result = Result { () throws(ChannelError) in try listener.listener.accept(timeout: .seconds(30)) }
                done.signal()
            }
            let connected = Result { () throws(ChannelError) in
                try AuthenticatedCMConnection.connect(host: ip, port: port, configuration: client)
            }
            done.wait()
            return (listener.result!, connected)
        }

        let (s, c) = run(client)
        let passive = try s.get()
        let active = try c.get()
        XCTAssertEqual(passive.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        XCTAssertEqual(active.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank0")
        // The kernel CM opened remote WRITE/READ at connect time; the channel
        // took them back before the handshake and opens none for SEND traffic.
        XCTAssertEqual(try passive.queuePair.accessFlags(), [])
        XCTAssertEqual(try active.queuePair.accessFlags(), [])
        for size in [1, 1500, 8192] {
            let message = [UInt8](repeating: UInt8(size & 0xff), count: size)
            try active.send(message)
            XCTAssertEqual(try passive.receive(), message)
            try passive.send(message)
            XCTAssertEqual(try active.receive(), message)
        }

        // A denied peer is torn down and counted; the same `accept` then serves the next client.
        let outsider = try cluster.configuration(id: "spiffe://cluster.test/inference/web", policy: "allow domain cluster.test")
        let done = DispatchSemaphore(value: 0)
        listener.result = nil
        Thread.detachNewThread {
            listener.result = Result { () throws(ChannelError) in try listener.listener.accept(timeout: .seconds(30)) }
            done.signal()
        }
        let outsiderSide = Result { () throws(ChannelError) in
            try AuthenticatedCMConnection.connect(host: ip, port: listener.listener.port, configuration: outsider)
        }
        guard case .failure(.handshake(let clientError)) = outsiderSide else { return XCTFail("denied peer: \(outsiderSide)") }
        XCTAssertEqual(clientError.remoteCode, .policyDenied, "\(clientError)")
        let next = try AuthenticatedCMConnection.connect(host: ip, port: listener.listener.port, configuration: client)
        done.wait()
        let served = try XCTUnwrap(listener.result).get()
        XCTAssertEqual(served.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        XCTAssertEqual(next.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank0")
        // The denied setup's thread counts it once the alert reached it, which
        // may be after the next client was served.
        var metrics = listener.listener.metrics.snapshot()
        for _ in 0..<100 where metrics.failed == 0 {
            Thread.sleep(forTimeInterval: 0.1)
            metrics = listener.listener.metrics.snapshot()
        }
        XCTAssertEqual(metrics.failed, 1, "the denied peer: \(metrics)")
        XCTAssertEqual(metrics.authenticated, 2, "\(metrics)")
    }
}

private final class CMListenerBox: @unchecked Sendable {
    let listener: AuthenticatedCMListener
    var result: Result<AuthenticatedQueuePair, ChannelError>?
    init(_ listener: AuthenticatedCMListener) { self.listener = listener }
}

extension AuthenticatedChannelTests {
    /// A peer that completes the TCP exchange and connects its QP, then goes
    /// silent: the initiator gives up within its setup timeout with a specific
    /// error, counts it, and its QP ends in ERROR.
    func testPeerVanishingMidHandshakeTimesOut() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        var client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        client.setupTimeout = .seconds(3)
        // The silent peer: plain verbs, the same two round trips, never a reply.
        let exchange = try EndpointExchangeListener(address: "127.0.0.1")
        let pd = try context.makeProtectionDomain()
        let cq = try CompletionQueue(context: context, capacity: 16)
        let region = try pd.allocateRegion(bytes: 64 * 1024)
        var qc = DeviceTestSupport.configuration()
        qc.accessFlags = []
        let silent = SilentPeer(prepared: try pd.makeQueuePair(completionQueue: cq, configuration: qc), exchange: exchange,
            receive: ReceiveRequest(id: 1, element: region.element(0..<region.length)))
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            silent.run()
            done.signal()
        }
        let clock = ContinuousClock()
        let start = clock.now
        let result = Result { () throws(ChannelError) in
            try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: exchange.port, configuration: client)
        }
        let elapsed = start.duration(to: clock.now)
        done.wait()
        guard case .failure(let error) = result else { return XCTFail("connected to a silent peer") }
        switch error {
        case .handshake(let e): XCTAssertEqual(e.code, .timeout, "\(e)")
        case .timedOut: break
        default: XCTFail("expected a timeout, got \(error)")
        }
        XCTAssertLessThan(elapsed, .seconds(10), "gave up within a few seconds of its 3 s setup timeout")
        XCTAssertNotNil(silent.qp, "the silent peer did connect its QP")
    }
}

/// Answers both round trips of the endpoint exchange and connects an RC QP, then never speaks.
private final class SilentPeer: @unchecked Sendable {
    var prepared: PreparedQueuePair?
    let exchange: EndpointExchangeListener
    let receive: ReceiveRequest
    var qp: QueuePair?
    var connection: BootstrapConnection?

    init(prepared: consuming PreparedQueuePair, exchange: EndpointExchangeListener, receive: ReceiveRequest) {
        self.prepared = consume prepared
        self.exchange = exchange
        self.receive = receive
    }

    func run() {
        guard let prepared = prepared.take() else { return }
        let local = prepared.endpoint
        let answer = ExchangeMessage(endpoint: local)
        guard let client = try? exchange.nextClient(timeout: .seconds(10)),
            (try? client.connection.send(answer, deadline: .now + .seconds(10))) != nil
        else { return }
        qp = try? prepared.connect(to: client.firstMessage.endpoint, receives: [receive])
        _ = try? client.connection.receive(deadline: .now + .seconds(10))
        _ = try? client.connection.send(answer, deadline: .now + .seconds(10))
        // Keep the connection open while the initiator waits for M2 in vain.
        connection = client.connection
    }
}

extension AuthenticatedChannelTests {
    /// Revocation reaches channels already established: the next rekey of the
    /// sending direction rechecks the peer and closes the channel, and an
    /// explicit recheck (what a SIGHUP reload would trigger) does the same.
    func testRevocationClosesEstablishedChannelsAtRekeyAndOnRecheck() throws {
        let context = try DeviceTestSupport.openContext()
        let revocations = RevocationStore()
        let cluster = try Cluster(revocations: revocations)
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        server.dataPath.rekeyAfterMessages = 2
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        let listener = try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1")
        let (s1, c1) = try Self.establish(context: context, listener: listener, client: client)
        let rekeying = try s1.get()
        let peerOfRekeying = try c1.get()
        let (s2, _) = try Self.establish(context: context, listener: listener, client: client)
        let rechecked = try s2.get()

        try rekeying.send([1])
        XCTAssertEqual(try peerOfRekeying.receive(), [1])
        var denied = RevocationList()
        denied.add(fingerprint: Fingerprint(der: client.credential.chainDER[0]), entry: "compromised node")
        revocations.replace(with: denied)

        try rekeying.send([2])  // still epoch 0
        XCTAssertThrowsError(try rekeying.send([3])) { error in  // epoch 1: rechecked, refused
            guard case ChannelError.peerNoLongerValid(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.contains("revoked"), why)
        }
        XCTAssertFalse(rekeying.isOpen)
        XCTAssertThrowsError(try rekeying.send([4])) { error in
            guard case ChannelError.closed = error else { return XCTFail("\(error)") }
        }

        XCTAssertThrowsError(try rechecked.revalidatePeer()) { error in
            guard case ChannelError.peerNoLongerValid = error else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(rechecked.isOpen)
        XCTAssertEqual(try rechecked.queuePair.state(), .error)
    }
}
