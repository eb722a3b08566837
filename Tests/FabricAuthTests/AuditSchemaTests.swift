import Foundation
import Handshake
import Identity
import Testing

@testable import FabricAuth

/// Every audit event type, made by the code that makes it in a channel
/// (handshake events from real handshakes between two machines with
/// FabricAuth's verifier, channel events from `ChannelAudit` over the
/// verified peer, rejected frames from a real receiver's rejections),
/// written by an `AuditLog` to a file and validated line by line against
/// docs/audit-schema.json with python3-jsonschema.
@Suite struct AuditSchemaTests {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)

    struct Endpoint {
        let credential: Credential
        let verifier: CertificatePeerVerifier
    }

    static func endpoints(policy: String) throws -> (a: Endpoint, b: Endpoint) {
        let (ca, _) = try CertificateAuthority.create(trustDomain: "example.org", now: now)
        let bundle = try TrustBundle(trustDomain: "example.org", anchors: [ca.certificate])
        func endpoint(_ name: String) throws -> Endpoint {
            let (chain, key) = try ca.issue(id: SPIFFEID("spiffe://example.org/\(name)"), now: now)
            let policy = try PolicyFile.parse(Array(policy.utf8), file: "policy.yaml")
            return Endpoint(credential: try Credential(chain: chain, privateKey: key),
                verifier: CertificatePeerVerifier(verifier: IdentityVerifier(bundles: [bundle]), policy: policy))
        }
        return (try endpoint("trainer/rank0"), try endpoint("trainer/rank1"))
    }

    static func binding(_ role: ChannelBinding.Role) -> ChannelBinding {
        var gid = [UInt8](repeating: 0, count: 16)
        gid[10] = 0xff; gid[11] = 0xff; gid[12] = 192; gid[13] = 0; gid[14] = 2; gid[15] = role == .initiator ? 1 : 2
        return ChannelBinding(role: role, qpn: role == .initiator ? 0x11 : 0x12, psn: 0x1234, gid: gid, mtu: 4096)
    }

    /// One handshake as `AuthenticatedConnector.authenticate` runs it, the
    /// machines' messages passed directly: each side's audit event and result.
    static func handshake(initiator: Endpoint, responder: Endpoint)
        -> [(event: AuditEvent.Handshake, result: HandshakeResult?)] {
        let sides = [(initiator, ChannelBinding.Role.initiator), (responder, .responder)]
        var notes: [HandshakeAuditNotes] = []
        var machines: [HandshakeMachine] = []
        for (endpoint, role) in sides {
            var verifier = endpoint.verifier
            let n = HandshakeAuditNotes()
            verifier.auditNotes = n
            notes.append(n)
            machines.append(HandshakeMachine(configuration: HandshakeConfiguration(
                credential: CertificateCredential(endpoint.credential), verifier: verifier, localBinding: binding(role),
                expectedRemoteBinding: binding(role == .initiator ? .responder : .initiator))))
        }
        let now = Timestamp(Self.now)
        var outcomes: [Result<HandshakeResult, ChannelError>?] = [nil, nil]
        var output = machines[0].start(now: now)
        var sender = 0
        while true {
            if let r = output.result { outcomes[sender] = .success(r) }
            if case .abort(let e, _) = output { outcomes[sender] = .failure(.handshake(e)) }
            guard let message = output.message else { break }
            let receiver = 1 - sender
            if machines[receiver].isFinished || machines[receiver].isFailed { break }
            output = machines[receiver].receive(message, now: now)
            sender = receiver
        }
        return (0..<2).map { i in
            let outcome = outcomes[i] ?? .failure(.timedOut("no answer"))
            let event = AuditEvent.Handshake.make(role: sides[i].1, transport: .tcp, credential: sides[i].0.credential,
                local: binding(sides[i].1), remote: binding(sides[i].1 == .initiator ? .responder : .initiator),
                resuming: false, notes: notes[i].current,
                outcome: outcome.map { ($0.suite, $0.resumed) }, duration: .milliseconds(3))
            return (event, try? outcome.get())
        }
    }

    static let allowTrainers = """
        version: "2026-12-02"
        rules:
          - name: trainers
            effect: allow
            peer: {prefix: spiffe://example.org/trainer}
        """
    static let denyRank1 = """
        version: "2026-12-02b"
        rules:
          - name: trainers
            effect: allow
            peer: {prefix: spiffe://example.org/trainer}
          - name: no-rank1
            effect: deny
            peer: {id: spiffe://example.org/trainer/rank1}
        """

    @Test func everyEventTypeValidatesAgainstTheSchema() throws {
        let lines = CollectedLines()
        let log = try AuditLog(destination: .handler { lines.append($0) }, rejectionInterval: .seconds(3600))

        // Accepted at both ends, with the policy rule, version and hash.
        let (a, b) = try Self.endpoints(policy: Self.allowTrainers)
        let accepted = Self.handshake(initiator: a, responder: b)
        for (event, _) in accepted { log.record(.handshake(event)) }
        #expect(accepted[1].event.outcome == .accepted && accepted[1].event.policy?.rule == "trainers")
        #expect(accepted[1].event.peer.spiffeID == "spiffe://example.org/trainer/rank0")
        #expect(accepted[1].event.peer.certSHA256 == Fingerprint(der: a.credential.chainDER[0]).description)
        #expect(accepted[1].event.policy?.version == "2026-12-02")
        #expect(accepted[1].event.policy?.sha256 == PolicyFile.sha256Hex(Array(Self.allowTrainers.utf8)))

        // Refused by policy: rank0 denies rank1 and names the deny rule; rank1 learns why from the alert.
        let (c, d) = try Self.endpoints(policy: Self.denyRank1)
        let refused = Self.handshake(initiator: d, responder: c)
        for (event, _) in refused { log.record(.handshake(event)) }
        #expect(refused[1].event.outcome == .refused && refused[1].event.reason == "policy_denied")
        #expect(refused[1].event.policy?.rule == "no-rank1" && refused[1].event.policy?.decision == .deny)
        #expect(refused[1].event.policy?.version == "2026-12-02b")
        #expect(refused[1].event.policy?.sha256 == PolicyFile.sha256Hex(Array(Self.denyRank1.utf8)))
        #expect(refused[1].event.peer.spiffeID == "spiffe://example.org/trainer/rank1")
        #expect(refused[0].event.reason == "peer_aborted" && refused[0].event.peerReason == "policy_denied")

        // Channel events over the accepted handshake's verified peer.
        let result = try #require(accepted[1].result)
        let workload = try #require(result.peer as? VerifiedWorkload).workload
        let audit = ChannelAudit(log: log, localID: b.credential.spiffeID, peer: workload, local: result.localBinding,
            remote: result.remoteBinding, failurePolicy: .dropAndCount)
        audit.epochChanged(.send, to: 1)
        audit.epochChanged(.receive, to: 1)
        // A forged frame through a real receiver: its rejection reaches the audit.
        var receiver = try result.receiveSecret.withUnsafeBytes { (s) throws(DataPathError) in
            try DataPathReceiver(trafficSecret: s, suite: result.suite, direction: .initiatorToResponder,
                localQPN: result.localBinding.qpn, configuration: .dropping, now: 0)
        }
        var forged = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead + 8)
        var sender = try result.receiveSecret.withUnsafeBytes { (s) throws(DataPathError) in
            try DataPathSender(trafficSecret: s, suite: result.suite, direction: .initiatorToResponder,
                remoteQPN: result.localBinding.qpn, configuration: .dropping, now: 0)
        }
        forged = try sender.sealFrame([1, 2, 3, 4, 5, 6, 7, 8])
        forged[DataPathLimits.headerSize] ^= 1
        let rejected = receiver.openFrame(forged)
        #expect(rejected.reason == .badTag)
        audit.rejected(try #require(rejected.reason))
        // The same frame's fabric alarm (AuthenticatedQueuePair.handleRejection).
        audit.fabricAlarm(try #require(rejected.reason))
        audit.closed(.rejectedFrame, detail: "message rejected (bad tag)", qpState: .error, sent: sender.metrics,
            received: receiver.metrics)
        let listener = ListenerAudit(log: log, transport: .tcp, port: 18515)
        listener.refused("bad_magic", peer: "192.0.2.9:40000")

        // A quarantine of the peer, from the quarantine the log records.
        let quarantine = PeerQuarantine()
        log.recordQuarantines(of: quarantine)
        quarantine.quarantine(workload.spiffeID, reason: "protocol violation: READ done for nothing", cause: .misbehaviour,
            now: Date())

        // The events other features emit (issue 15), from their types.
        let channel = audit.channel
        log.record(.reauthentication(.init(channel: channel, outcome: .accepted, epoch: 7,
            peerCertSHA256: channel.peerCertSHA256, policy: accepted[1].event.policy)))
        log.record(.reload(.init(source: .policy, path: "/etc/fabricauth/policy.yaml", outcome: .failed,
            error: "policy.yaml:3:9: effect must be allow or deny")))
        log.record(.eventsDropped(.init(dropped: 5, droppedTotal: 12)))
        log.close()

        if let sample = ProcessInfo.processInfo.environment["FABRICAUTH_AUDIT_SAMPLE"] {
            // docs/operations.md's example lines come from here.
            try (lines.lines.joined(separator: "\n") + "\n").write(toFile: sample, atomically: true, encoding: .utf8)
        }
        let names = Set(lines.objects.compactMap { $0["event"] as? String })
        #expect(names == Set(AuditEvent.names), "missing: \(Set(AuditEvent.names).subtracting(names))")
        try AuditSchema.expectValid(lines.lines)
        let rejectedLine = try #require(lines.objects.first { $0["event"] as? String == "rejected_frames" })
        #expect((rejectedLine["counts"] as? [String: Int]) == ["bad_tag": 1])
        #expect((rejectedLine["channel"] as? [String: Any])?["peer_id"] as? String == "spiffe://example.org/trainer/rank0")
        let alarmLine = try #require(lines.objects.first { $0["event"] as? String == "fabric_under_attack" })
        #expect((alarmLine["counts"] as? [String: Int]) == ["bad_tag": 1])
        let quarantineLine = try #require(lines.objects.first { $0["event"] as? String == "quarantine" })
        #expect(quarantineLine["peer_id"] as? String == "spiffe://example.org/trainer/rank0")
    }

    /// The validator is not vacuous: a line missing a required field, with a
    /// wrong type, or of an unknown event fails.
    @Test func schemaRefusesBrokenLines() throws {
        let good = #"{"dropped":1,"dropped_total":1,"event":"events_dropped","pid":7,"seq":1,"ts":"2026-12-02T16:49:31.123Z","v":1}"#
        #expect(try AuditSchema.validate([good]).status == 0)
        for bad in [
            good.replacingOccurrences(of: #""dropped":1,"#, with: ""),
            good.replacingOccurrences(of: #""v":1"#, with: #""v":2"#),
            good.replacingOccurrences(of: #"16:49:31.123Z"#, with: "16:49:31Z"),
            good.replacingOccurrences(of: #""events_dropped""#, with: #""no_such_event""#),
            good.replacingOccurrences(of: #""pid":7"#, with: #""pid":"7""#),
            good.replacingOccurrences(of: #""v":1"#, with: #""v":1,"extra":true"#),
        ] {
            #expect(try AuditSchema.validate([bad]).status == 1, "accepted: \(bad)")
        }
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(AuditInstant.iso8601(wallNanoseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(AuditInstant.iso8601(wallNanoseconds: 1_900_000_000_123_456_789) == "2030-03-17T17:46:40.123Z")
        #expect(AuditInstant.iso8601(wallNanoseconds: -1) == "1969-12-31T23:59:59.999Z")
    }
}
