import Bootstrap
import Crypto
import Foundation
import Handshake
import Identity
import Testing
import X509

@testable import FabricAuth
@testable import FabricAuthMetrics

/// The registry's exposition after real handshakes (FabricAuth's certificate
/// credential and verifier driving `HandshakeMachine`) and real seal/open by
/// a `DataPathSender`/`DataPathReceiver` pair keyed from their result, checked
/// by promtool and read back value by value.
@Suite struct MetricsRegistryTests {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)

    struct Endpoint {
        let credential: Credential
        let verifier: CertificatePeerVerifier
    }

    /// A CA for example.org and endpoints it issues; `allow` is the endpoint's policy.
    struct Authority {
        let authority: CertificateAuthority
        let bundle: TrustBundle

        init() throws {
            let (ca, _) = try CertificateAuthority.create(trustDomain: "example.org", now: MetricsRegistryTests.now)
            authority = ca
            bundle = try TrustBundle(trustDomain: "example.org", anchors: [ca.certificate])
        }

        func endpoint(_ name: String, allow: String) throws -> Endpoint {
            let (chain, key) = try authority.issue(id: SPIFFEID("spiffe://example.org/\(name)"), now: MetricsRegistryTests.now)
            return Endpoint(credential: try Credential(chain: chain, privateKey: key),
                verifier: CertificatePeerVerifier(verifier: IdentityVerifier(bundles: [bundle]), policy: try Policy(text: allow)))
        }
    }

    static func binding(_ role: ChannelBinding.Role, qp: UInt32) -> ChannelBinding {
        ChannelBinding(role: role, qpn: role == .initiator ? qp : qp + 1, psn: 0x1234, gid: [UInt8](repeating: 1, count: 16),
            mtu: 4096)
    }

    /// Runs one handshake between the two machines; returns both results
    /// (nil where that side failed) and records each success's duration in
    /// `registry` as the channel set-up does.
    static func handshake(_ registry: MetricsRegistry, initiator: Endpoint, responder: Endpoint, qp: UInt32,
                          resuming: ResumableSession? = nil, sessions: [ResumableSession] = [])
        -> (initiator: HandshakeResult?, responder: HandshakeResult?) {
        func configuration(_ e: Endpoint, _ role: ChannelBinding.Role) -> HandshakeConfiguration {
            let cache = sessions
            var lookup: (@Sendable ([UInt8]) -> ResumableSession?)?
            if role == .responder { lookup = { id in cache.first { $0.sessionID == id } } }
            let peerRole: ChannelBinding.Role = role == .initiator ? .responder : .initiator
            return HandshakeConfiguration(credential: CertificateCredential(e.credential), verifier: e.verifier,
                localBinding: binding(role, qp: qp), expectedRemoteBinding: binding(peerRole, qp: qp),
                counters: registry.handshakeCounters, sessionLookup: lookup)
        }
        let a = resuming.map { HandshakeMachine(resuming: $0, configuration: configuration(initiator, .initiator)) }
            ?? HandshakeMachine(configuration: configuration(initiator, .initiator))
        let machines = [a, HandshakeMachine(configuration: configuration(responder, .responder))]
        let now = Timestamp(Self.now)
        var results: [HandshakeResult?] = [nil, nil]
        let started = ContinuousClock.now
        var output = machines[0].start(now: now)
        var sender = 0
        while true {
            if let r = output.result {
                results[sender] = r
                registry.handshakeCompleted(resumed: r.resumed, duration: ContinuousClock.now - started)
            }
            guard let message = output.message else { break }
            let receiver = 1 - sender
            if machines[receiver].isFinished || machines[receiver].isFailed { break }
            output = machines[receiver].receive(message, now: now)
            sender = receiver
        }
        return (results[0], results[1])
    }

    /// Drop-and-count, so that the frames after a rejection are still opened.
    static var dropping: DataPathConfiguration {
        var c = DataPathConfiguration()
        c.failurePolicy = .dropAndCount
        return c
    }

    /// The sending half keyed as a channel's is (AuthenticatedQueuePair.init).
    static func sender(_ from: HandshakeResult) throws -> DataPathSender {
        let direction: Direction = from.role == .initiator ? .initiatorToResponder : .responderToInitiator
        return try from.sendSecret.withUnsafeBytes { (s) throws(DataPathError) in
            try DataPathSender(trafficSecret: s, suite: from.suite, direction: direction, remoteQPN: from.remoteBinding.qpn,
                configuration: dropping, now: 0)
        }
    }

    /// The receiving half of the peer of `from`'s sender.
    static func receiver(_ to: HandshakeResult) throws -> DataPathReceiver {
        let direction: Direction = to.role == .initiator ? .responderToInitiator : .initiatorToResponder
        return try to.receiveSecret.withUnsafeBytes { (s) throws(DataPathError) in
            try DataPathReceiver(trafficSecret: s, suite: to.suite, direction: direction, localQPN: to.localBinding.qpn,
                configuration: dropping, now: 0)
        }
    }

    @Test func countsEqualWhatWasDone() throws {
        let registry = MetricsRegistry()
        let ca = try Authority()
        let alice = try ca.endpoint("alice", allow: "allow id spiffe://example.org/bob")
        let bob = try ca.endpoint("bob", allow: "allow id spiffe://example.org/alice")
        let mallory = try ca.endpoint("mallory", allow: "allow domain example.org")

        // A full handshake and a resumption from its session: both ends of
        // each run in this process, so each counts twice.
        let full = Self.handshake(registry, initiator: alice, responder: bob, qp: 0x10)
        let aliceResult = try #require(full.initiator)
        let bobResult = try #require(full.responder)
        let resumed = Self.handshake(registry, initiator: alice, responder: bob, qp: 0x20, resuming: aliceResult.session,
            sessions: [bobResult.session])
        #expect(resumed.initiator?.resumed == true && resumed.responder?.resumed == true)
        // Bob's policy does not allow mallory: refused at bob, the alert aborts mallory.
        let denied = Self.handshake(registry, initiator: mallory, responder: bob, qp: 0x30)
        #expect(denied.initiator == nil && denied.responder == nil)

        // The data path of the full handshake's channel: alice seals, bob opens.
        var sender = try Self.sender(aliceResult)
        var receiver = try Self.receiver(bobResult)
        let aliceChannel = ChannelTelemetry(suite: aliceResult.suite, macEngine: sender.metrics.macEngine, resumed: false)
        let bobChannel = ChannelTelemetry(suite: bobResult.suite, macEngine: receiver.metrics.macEngine, resumed: false)
        registry.channelOpened(aliceChannel)
        registry.channelOpened(bobChannel)
        let sizes = [0, 1, 100, 4096, 65_000]
        var frames: [[UInt8]] = []
        for size in sizes {
            let frame = try sender.sealFrame([UInt8](repeating: 0xA5, count: size))
            frames.append(frame)
            #expect(receiver.openFrame(frame).isDelivered)
        }
        // A forged frame: a sealed one with one tag bit flipped (never delivered).
        var forged = try sender.sealFrame([UInt8](repeating: 7, count: 32))
        forged[forged.count - 1] ^= 1
        #expect(receiver.openFrame(forged).reason == .badTag)
        // A replay of a delivered frame.
        #expect(receiver.openFrame(frames[2]).reason == .replayed)
        aliceChannel.publish(sender: sender.metrics, receiver: DataPathMetrics())
        bobChannel.publish(sender: DataPathMetrics(), receiver: receiver.metrics)

        let text = registry.exposition()
        // docs/operations.md's sample is this exposition.
        if let sample = ProcessInfo.processInfo.environment["FABRICAUTH_METRICS_SAMPLE"] {
            try text.write(toFile: sample, atomically: true, encoding: .utf8)
        }
        try checkWithPromtool(text)
        let e = Exposition(text)
        #expect(e["fabricauth_handshakes_accepted_total", ["mode": "full"]] == 2)
        #expect(e["fabricauth_handshakes_accepted_total", ["mode": "resumed"]] == 2)
        #expect(e["fabricauth_handshakes_refused_total", ["reason": "policy_denied"]] == 1)
        #expect(e["fabricauth_handshakes_refused_total", ["reason": "peer_aborted"]] == 1)
        #expect(e["fabricauth_handshakes_refused_total", ["reason": "bad_signature"]] == 0)
        #expect(e["fabricauth_handshake_duration_seconds_count", ["mode": "full"]] == 2)
        #expect(e["fabricauth_handshake_duration_seconds_count", ["mode": "resumed"]] == 2)
        #expect(e.types["fabricauth_handshake_duration_seconds"] == "histogram")
        #expect(e["fabricauth_handshake_duration_seconds_bucket", ["mode": "full", "le": "+Inf"]] == 2)

        let sealedBytes = Double(sizes.reduce(0, +) + 32)
        #expect(e["fabricauth_sealed_messages_total"] == Double(sizes.count + 1))
        #expect(e["fabricauth_sealed_payload_bytes_total"] == sealedBytes)
        #expect(e["fabricauth_opened_messages_total"] == Double(sizes.count))
        #expect(e["fabricauth_opened_payload_bytes_total"] == Double(sizes.reduce(0, +)))
        #expect(e["fabricauth_frames_rejected_total", ["reason": "bad_tag"]] == 1)
        #expect(e["fabricauth_frames_rejected_total", ["reason": "replayed"]] == 1)
        #expect(e["fabricauth_frames_rejected_total", ["reason": "wrong_qpn"]] == 0)
        #expect(e["fabricauth_rekeys_total", ["direction": "send"]] == 0)
        let suite = "\(aliceResult.suite)"
        let engine = sender.metrics.macEngine.rawValue
        #expect(e["fabricauth_channels_active", ["suite": suite, "mac_engine": engine]] == 2)
        #expect(e["fabricauth_channels_opened_total"] == 2)
        #expect(e["fabricauth_mac_engine_info", ["engine": MACEngine.selected.rawValue]] == 1)
        for (family, type) in [("fabricauth_sealed_messages_total", "counter"), ("fabricauth_channels_active", "gauge"),
                               ("fabricauth_mac_engine_info", "gauge")] {
            #expect(e.types[family] == type, "\(family)")
        }

        // Closing alice's channel folds its counters into the total: nothing
        // goes backwards, the gauge drops, bob's later traffic still adds.
        registry.channelClosed(aliceChannel)
        registry.channelClosed(aliceChannel)  // once only
        let more = try sender.sealFrame([1, 2, 3])
        #expect(receiver.openFrame(more).isDelivered)
        bobChannel.publish(sender: DataPathMetrics(), receiver: receiver.metrics)
        let after = Exposition(registry.exposition())
        #expect(after["fabricauth_channels_active", ["suite": suite, "mac_engine": engine]] == 1)
        #expect(after["fabricauth_channels_closed_total"] == 1)
        #expect(after["fabricauth_sealed_messages_total"] == Double(sizes.count + 1))
        #expect(after["fabricauth_opened_messages_total"] == Double(sizes.count + 1))
        #expect(after["fabricauth_opened_payload_bytes_total"] == Double(sizes.reduce(0, +) + 3))
        #expect(after["fabricauth_frames_rejected_total", ["reason": "bad_tag"]] == 1)
    }

    /// Reloads by source and outcome (ReloadWatcher's sources, read at scrape
    /// time) and channels closed by a trust recheck, by reason.
    @Test func reloadsAndTrustClosures() throws {
        let registry = MetricsRegistry()
        let dir = NSTemporaryDirectory() + "fabricauth-metrics-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/n.txt"
        try "1".write(toFile: path, atomically: true, encoding: .utf8)
        let name = "test_\(UUID().uuidString.prefix(8))"
        let source = try ReloadableFile<Int>(name: name, paths: [path]) { () throws(IdentityError) in
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), let n = Int(text) else {
                throw IdentityError(.io, "not a number")
            }
            return n
        }
        try "2".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try source.reloadIfChanged())
        try "x".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: IdentityError.self) { try source.reloadIfChanged() }
        #expect(source.value == 2)

        let closed = ChannelTelemetry(suite: .aes256GMAC, macEngine: .selected, resumed: false)
        registry.channelOpened(closed)
        closed.recordTrustClosure(.revoked("revocation.revoked"))
        registry.channelClosed(closed)
        let e = Exposition(registry.exposition())
        #expect(e["fabricauth_reloads_total", ["source": name, "outcome": "success"]] == 1)
        #expect(e["fabricauth_reloads_total", ["source": name, "outcome": "failure"]] == 1)
        #expect(e["fabricauth_channels_closed_by_trust_total", ["reason": "revoked"]] == 1)
        #expect(e["fabricauth_channels_closed_by_trust_total", ["reason": "expired"]] == 0)
        #expect(e.types["fabricauth_reloads_total"] == "counter")
    }

    /// A listener's screening drops, from a real listener on loopback.
    @Test func listenerScreeningDrops() throws {
        let registry = MetricsRegistry()
        var screening = EndpointExchangeListener.Configuration()
        screening.clientTokenSize = ExchangeMessage.clientTokenSize
        var listener: EndpointExchangeListener? = try EndpointExchangeListener(address: "127.0.0.1", port: 0,
            configuration: screening)
        registry.watch(listener!.metrics)
        // Not a FabricAuth client: an HTTP request where the exchange's magic belongs.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = listener!.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        #expect(request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == request.count)
        #expect(throws: BootstrapError.self) { _ = try listener!.nextClient(timeout: .milliseconds(500)) }
        close(fd)

        let text = registry.exposition()
        try checkWithPromtool(text)
        let e = Exposition(text)
        #expect(e["fabricauth_listener_connections_total"] == 1)
        #expect(e["fabricauth_listener_refused_total", ["reason": "bad_magic"]] == 1)
        #expect(e["fabricauth_listener_clients_handed_over_total"] == 0)

        // Once the listener is gone its counts stay, folded into the total once.
        listener = nil
        for _ in 0..<2 {
            let later = Exposition(registry.exposition())
            #expect(later["fabricauth_listener_connections_total"] == 1)
            #expect(later["fabricauth_listener_refused_total", ["reason": "bad_magic"]] == 1)
        }
    }

    @Test func labelValuesAreSnakeCase() {
        #expect(SnakeCase.name(RejectReason.badTag) == "bad_tag")
        #expect(SnakeCase.name(RejectReason.wrongQPN) == "wrong_qpn")
        #expect(SnakeCase.name(HandshakeErrorCode.policyDenied) == "policy_denied")
        #expect(SnakeCase.name(HandshakeErrorCode.unsupportedVersion) == "unsupported_version")
        #expect(SnakeCase.name(BootstrapError.Code.missingClientToken) == "missing_client_token")
    }
}

extension DataPathSender {
    /// Seals `payload` into a new frame array (as FabricAuthTests' helper).
    mutating func sealFrame(_ payload: [UInt8]) throws -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead + payload.count)
        frame.replaceSubrange(DataPathLimits.headerSize..<(DataPathLimits.headerSize + payload.count), with: payload)
        let length = try frame.withUnsafeMutableBytes { buf in
            try seal(frame: buf, payloadLength: payload.count, opcode: .send, now: 0).frameLength
        }
        precondition(length == frame.count)
        return frame
    }
}

/// What opening a frame came to.
struct Opened {
    var isDelivered = false
    var reason: RejectReason?
}

extension DataPathReceiver {
    mutating func openFrame(_ frame: [UInt8]) -> Opened {
        // open decrypts a control frame in place, so it gets a copy.
        var copy = frame
        return copy.withUnsafeMutableBytes { buf in
            switch open(frame: buf, now: 0) {
            case .delivered: return Opened(isDelivered: true)
            case .rejected(let r, _): return Opened(reason: r)
            }
        }
    }
}
