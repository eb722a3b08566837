// Credentials and trust that change under running channels, on a real verbs
// device: a revocation, a CA's removal and a policy change each reach an
// established channel (idle, receive-only, send-only; checked on either side)
// within its configured recheck bound; a peer whose certificate expires is
// cut off with `peer certificate expired`; a half-written certificate during
// rotation keeps the old credential in force for new connections.
//
// Every identity, bundle, deny list and policy comes from files through
// ReloadableFile sources, polled by ReloadWatcher every 200 ms, as the CLI and
// the NCCL plug-in run them.
import Dispatch
import FabricAuth
import Foundation
import Identity
import Synchronization
import Verbs
import X509
import XCTest

final class TrustChangeTests: XCTestCase {
    /// The recheck bound the channels here are configured with.
    static let bound: Duration = .seconds(2)
    /// What the bound leaves for the poll tick, a handshake-free recheck and a loaded VM.
    static let slack: TimeInterval = 2

    /// One trust domain on disk: a CA, its bundle file, a deny list and a policy file, and
    /// one credential file pair per workload.
    final class Deployment {
        let dir: String
        let authority: CertificateAuthority
        let bundlePath: String, revocationsPath: String, policyPath: String
        let bundle: TrustBundleSource
        let revocations: RevocationStore
        let policy: PolicyStore

        init(policy text: String = "allow domain cluster.test\n") throws {
            dir = NSTemporaryDirectory() + "fabricauth-trust-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            authority = try CertificateAuthority.create(trustDomain: "cluster.test").authority
            (bundlePath, revocationsPath, policyPath) = (dir + "/bundle.pem", dir + "/revoked.txt", dir + "/policy.txt")
            try Self.replace(bundlePath, with: CertificateParsing.pem(authority.certificate))
            try Self.replace(revocationsPath, with: "# nothing revoked\n")
            try Self.replace(policyPath, with: text)
            bundle = try TrustBundleSource(trustDomain: "cluster.test", paths: [bundlePath])
            revocations = try RevocationStore(path: revocationsPath)
            policy = try PolicyStore(path: policyPath)
            ReloadWatcher.shared.startPolling(every: .milliseconds(200))
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        /// A new file renamed over the old, as spiffe-helper writes.
        static func replace(_ path: String, with text: String, mode: Int = 0o644) throws {
            let temporary = path + ".tmp"
            XCTAssertTrue(FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8),
                attributes: [.posixPermissions: mode]))
            XCTAssertEqual(rename(temporary, path), 0)
        }

        /// Issues `id` for `ttl` seconds into `name`.pem / `name`.key; returns the leaf's DER.
        @discardableResult
        func writeCredential(_ id: String, name: String, ttl: TimeInterval = 3600) throws -> [UInt8] {
            let issued = try authority.issue(id: try SPIFFEID(id), ttl: ttl)
            try Self.replace(dir + "/\(name).pem", with: issued.chain.map(CertificateParsing.pem).joined())
            try Self.replace(dir + "/\(name).key", with: try PrivateKeyFile.pem(issued.privateKey), mode: 0o600)
            return CertificateParsing.der(issued.chain[0])
        }

        /// A channel configuration reading everything from the files; `name` is the credential's.
        func configuration(name: String) throws -> ChannelConfiguration {
            let credential = try CredentialSource(certificatePath: dir + "/\(name).pem", keyPath: dir + "/\(name).key")
            var c = ChannelConfiguration(sources: IdentitySources(credential: credential, bundles: [bundle],
                revocations: revocations, policy: policy))
            c.gidIndex = DeviceTestSupport.gidIndex
            c.maxMessageSize = 1024
            c.remoteAccessDepth = 0
            c.receiveDepth = 16
            c.sendDepth = 8
            c.setupTimeout = .seconds(20)
            c.trustRecheckInterval = TrustChangeTests.bound
            return c
        }
    }

    /// Waits up to 5 s (25 watcher ticks) for `condition`.
    static func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date() + 5
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return condition()
    }

    enum Change { case revocation, caRemoval, policy }
    enum Traffic { case idle, receiveOnly, sendOnly }

    static let rank0 = "spiffe://cluster.test/trainer/rank0", rank1 = "spiffe://cluster.test/trainer/rank1"

    /// Establishes rank0 (responder) and rank1 (initiator), applies `change` to the files so
    /// that the checking side's peer no longer passes, and drives the checking side with
    /// `traffic` until it closes; returns the reason and how long after the change it came.
    func closure(after change: Change, traffic: Traffic, checkResponder: Bool) throws -> (why: String, after: TimeInterval) {
        let context = try DeviceTestSupport.openContext()
        let d = try Deployment()
        let leaf0 = try d.writeCredential(Self.rank0, name: "rank0")
        let leaf1 = try d.writeCredential(Self.rank1, name: "rank1")
        let (s, c) = try AuthenticatedChannelTests.establish(context: context, server: try d.configuration(name: "rank0"),
            client: try d.configuration(name: "rank1"))
        let responder = try s.get(), initiator = try c.get()
        let (checker, other) = checkResponder ? (responder, initiator) : (initiator, responder)
        let (peerLeaf, peerID) = checkResponder ? (leaf1, Self.rank1) : (leaf0, Self.rank0)
        try checker.send([0])
        XCTAssertEqual(try other.receive(), [0])

        // The other side runs on its own thread: it sends to a receive-only checker, receives
        // from a send-only one, stays idle otherwise, until told to stop or its channel fails.
        let peer = PeerDriver(other)
        let peerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [traffic] in
            peer.run(traffic)
            peerDone.signal()
        }
        defer {
            peer.stop.store(true, ordering: .relaxed)
            XCTAssertEqual(peerDone.wait(timeout: .now() + 30), .success, "the peer's thread did not stop")
        }

        let changed = Date()
        switch change {
        case .revocation:
            try Deployment.replace(d.revocationsPath, with: "sha256:\(Fingerprint(der: peerLeaf))\n")
        case .caRemoval:
            // Rolled over to a new CA, the old one removed.
            let next = try CertificateAuthority.create(trustDomain: "cluster.test").authority
            try Deployment.replace(d.bundlePath, with: CertificateParsing.pem(next.certificate))
        case .policy:
            try Deployment.replace(d.policyPath, with: "allow domain cluster.test\ndeny id \(peerID)\n")
        }
        let message = [UInt8](repeating: 7, count: 512)
        do {
            while true {
                switch traffic {
                case .idle, .receiveOnly:
                    _ = try checker.receive(timeout: .seconds(15))
                case .sendOnly:
                    try checker.send(message)
                    Thread.sleep(forTimeInterval: 0.001)
                }
                if Date().timeIntervalSince(changed) > 15 { break }
            }
        } catch ChannelError.peerNoLongerValid(let why) {
            XCTAssertFalse(checker.isOpen)
            XCTAssertEqual(try checker.queuePairState(), .error, "closed through the channel's teardown")
            return (why, Date().timeIntervalSince(changed))
        }
        XCTFail("the channel outlived the trust change by 15 s")
        return ("", .infinity)
    }

    func check(_ change: Change, _ traffic: Traffic, checkResponder: Bool, prefix: String) throws {
        let (why, after) = try closure(after: change, traffic: traffic, checkResponder: checkResponder)
        XCTAssertTrue(why.hasPrefix(prefix), why)
        XCTAssertLessThanOrEqual(after, 2 + Self.slack, "closed \(after) s after the change; bound \(Self.bound)")
    }

    func testRevocationClosesIdleChannel() throws { try check(.revocation, .idle, checkResponder: true, prefix: "peer certificate revoked") }
    func testRevocationClosesReceiveOnlyChannel() throws { try check(.revocation, .receiveOnly, checkResponder: false, prefix: "peer certificate revoked") }
    func testRevocationClosesSendOnlyChannel() throws { try check(.revocation, .sendOnly, checkResponder: true, prefix: "peer certificate revoked") }
    func testCARemovalClosesIdleChannel() throws { try check(.caRemoval, .idle, checkResponder: false, prefix: "CA no longer trusted") }
    func testCARemovalClosesReceiveOnlyChannel() throws { try check(.caRemoval, .receiveOnly, checkResponder: true, prefix: "CA no longer trusted") }
    func testCARemovalClosesSendOnlyChannel() throws { try check(.caRemoval, .sendOnly, checkResponder: false, prefix: "CA no longer trusted") }
    func testPolicyChangeClosesIdleChannel() throws { try check(.policy, .idle, checkResponder: true, prefix: "policy denies peer") }
    func testPolicyChangeClosesReceiveOnlyChannel() throws { try check(.policy, .receiveOnly, checkResponder: false, prefix: "policy denies peer") }
    func testPolicyChangeClosesSendOnlyChannel() throws { try check(.policy, .sendOnly, checkResponder: true, prefix: "policy denies peer") }

    /// A peer whose certificate lives ~10 s is cut off at its expiry, within the
    /// grace, although the periodic recheck is at its longest (30 s).
    func testPeerCertificateExpiryClosesChannel() throws {
        let context = try DeviceTestSupport.openContext()
        let d = try Deployment()
        try d.writeCredential(Self.rank0, name: "rank0")
        try d.writeCredential(Self.rank1, name: "rank1", ttl: 10)
        var server = try d.configuration(name: "rank0")
        server.trustRecheckInterval = .seconds(30)
        let (s, c) = try AuthenticatedChannelTests.establish(context: context, server: server,
            client: try d.configuration(name: "rank1"))
        let responder = try s.get()
        _ = try c.get()
        let notAfter = responder.peer.notAfter
        XCTAssertThrowsError(try responder.receive(timeout: .seconds(30))) { error in
            guard case ChannelError.peerNoLongerValid(let why) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(why.hasPrefix("peer certificate expired"), why)
        }
        let late = Date().timeIntervalSince(notAfter)
        XCTAssertGreaterThan(late, 0, "not before the certificate expired")
        XCTAssertLessThanOrEqual(late, 1 + Self.slack, "closed \(late) s after notAfter; grace 1 s")
    }

    /// A rotation whose certificate file is caught half-written keeps the old credential:
    /// the reload fails and is counted, and a new connection still succeeds with the old
    /// certificate; once the rotation completes, the next connection presents the new one.
    func testHalfWrittenCertificateKeepsOldCredential() throws {
        let context = try DeviceTestSupport.openContext()
        let d = try Deployment()
        try d.writeCredential(Self.rank0, name: "rank0")
        let old = try d.writeCredential(Self.rank1, name: "rank1")
        let listener = try AuthenticatedListener(context: context, configuration: try d.configuration(name: "rank0"),
            address: "127.0.0.1")
        let client = try d.configuration(name: "rank1")
        let source = client.sources!.credentialSource

        // The next certificate, cut off half-way (written in place, not renamed); the
        // watcher's tick tries it and fails.
        let next = try d.authority.issue(id: try SPIFFEID(Self.rank1))
        let pem = next.chain.map(CertificateParsing.pem).joined()
        try String(pem.prefix(pem.count / 2)).write(toFile: d.dir + "/rank1.pem", atomically: false, encoding: .utf8)
        XCTAssertTrue(Self.eventually { source.counts.failed >= 1 }, "the half-written file was not tried")
        XCTAssertEqual(source.counts.succeeded, 0)
        let (s1, c1) = try AuthenticatedChannelTests.establish(context: context, listener: listener, client: client)
        XCTAssertEqual(try s1.get().peer.leafFingerprint, Fingerprint(der: old), "the old credential is still presented")
        XCTAssertTrue(try c1.get().isOpen)

        // The rotation completes: certificate, then key, each renamed into place.
        try Deployment.replace(d.dir + "/rank1.pem", with: pem)
        try Deployment.replace(d.dir + "/rank1.key", with: try PrivateKeyFile.pem(next.privateKey), mode: 0o600)
        let fresh = CertificateParsing.der(next.chain[0])
        XCTAssertTrue(Self.eventually { source.value.chainDER[0] == fresh }, "the completed rotation was not loaded")
        let (s2, _) = try AuthenticatedChannelTests.establish(context: context, listener: listener, client: client)
        XCTAssertEqual(try s2.get().peer.leafFingerprint, Fingerprint(der: fresh), "a new connection uses the newest credential")
    }
}

/// Drives the other end of a channel on its own thread.
final class PeerDriver: @unchecked Sendable {
    let channel: AuthenticatedQueuePair
    let stop = Atomic<Bool>(false)
    init(_ channel: AuthenticatedQueuePair) { self.channel = channel }

    func run(_ traffic: TrustChangeTests.Traffic) {
        let message = [UInt8](repeating: 1, count: 512)
        while !stop.load(ordering: .relaxed) {
            do {
                switch traffic {
                case .idle: Thread.sleep(forTimeInterval: 0.05)
                case .receiveOnly:
                    try channel.send(message, timeout: .seconds(2))
                    Thread.sleep(forTimeInterval: 0.001)
                case .sendOnly: _ = try channel.receive(timeout: .milliseconds(500))
                }
            } catch ChannelError.timedOut {
                continue
            } catch {
                return  // the checker closed its end
            }
        }
    }
}
