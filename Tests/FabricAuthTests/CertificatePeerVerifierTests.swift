import Dispatch
import Foundation
import Handshake
import Identity
import XCTest

@testable import FabricAuth

/// The handshake's synchronous view of certificate verification (``CertificatePeerVerifier``).
final class CertificatePeerVerifierTests: XCTestCase {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)

    struct Setup {
        let peerVerifier: CertificatePeerVerifier
        let chain: [[UInt8]]
    }

    func makeSetup() throws -> Setup {
        let (authority, _) = try CertificateAuthority.create(trustDomain: "example.org", now: Self.now)
        let (chain, _) = try authority.issue(id: SPIFFEID("spiffe://example.org/ns/web"), now: Self.now)
        let verifier = IdentityVerifier(
            bundles: [try TrustBundle(trustDomain: "example.org", anchors: [authority.certificate])]
        )
        let policy = try Policy(text: "allow domain example.org")
        return Setup(peerVerifier: CertificatePeerVerifier(verifier: verifier, policy: policy),
                     chain: chain.map(CertificateParsing.der))
    }

    func testVerifiesAndRejectsWithReason() throws {
        let setup = try makeSetup()
        guard case .verified(let peer) = setup.peerVerifier.verify(chain: setup.chain, at: Timestamp(Self.now)) else {
            return XCTFail("expected the CA's own leaf to verify")
        }
        XCTAssertEqual(peer.identity, "spiffe://example.org/ns/web")
        let late = Timestamp(Self.now.addingTimeInterval(2 * CertificateAuthority.defaultLeafTTL))
        guard case .rejected(let rejection) = setup.peerVerifier.verify(chain: setup.chain, at: late) else {
            return XCTFail("expected an expired leaf to be rejected")
        }
        XCTAssertEqual(rejection.reason, .expired)
        XCTAssertTrue(rejection.detail.hasPrefix("validity.expired"), rejection.detail)
    }

    /// Authorization passes this endpoint's own ID to the policy, so rules with a local
    /// selector (policy files' `local:`) apply in the handshake; the decision names the rule,
    /// the policy's version and hash.
    func testAuthorizeAppliesLocalSelectorRules() throws {
        let setup = try makeSetup()
        guard case .verified(let peer) = setup.peerVerifier.verify(chain: setup.chain, at: Timestamp(Self.now)) else {
            return XCTFail("expected the CA's own leaf to verify")
        }
        let yaml = """
            version: "3"
            rules:
              - name: web-to-db
                effect: allow
                peer: {pattern: spiffe://example.org/ns/*}
                local: {prefix: spiffe://example.org/db}

            """
        let policy = try PolicyFile.parse(Array(yaml.utf8), file: "p.yaml")
        let logged = PolicyLogLines()
        func authorize(local: String?) throws -> PolicyDecision {
            let verifier = CertificatePeerVerifier(verifier: setup.peerVerifier.verifier, policy: policy,
                                                   localID: try local.map { try SPIFFEID($0) }, log: { logged.append($0) })
            return verifier.authorize(peer, at: Timestamp(Self.now))
        }
        XCTAssertEqual(try authorize(local: "spiffe://example.org/db/primary"), .allowed)
        XCTAssertTrue(logged.all.last?.contains("allowed by rule \"web-to-db\"") ?? false, "\(logged.all)")
        XCTAssertTrue(logged.all.last?.contains("[policy version \"3\" sha256 ") ?? false, "\(logged.all)")
        guard case .denied(let reason) = try authorize(local: "spiffe://example.org/cache/a") else {
            return XCTFail("a local ID outside the rule's local selector must be denied")
        }
        XCTAssertTrue(reason.contains("default deny"), reason)
        guard case .denied = try authorize(local: nil) else { return XCTFail("no local ID: local rules do not apply") }
    }

    /// Verification called synchronously from inside tasks that occupy every thread of the
    /// cooperative pool must still finish: with a semaphore waiting for a task on the global
    /// executor (the bridge before), each caller held a pool thread while its verification
    /// waited for one, and this deadlocked. A deadlock fails here after the timeout; the
    /// stuck threads then stay stuck, so run this test on its own when checking an old build.
    func testVerifiesFromTasksSaturatingTheCooperativePool() throws {
        let setup = try makeSetup()
        // The pool has one thread per core on Linux; several callers per thread saturate it.
        let callers = max(16, ProcessInfo.processInfo.activeProcessorCount * 4)
        let group = DispatchGroup()
        let verified = Counter()
        for _ in 0..<callers {
            group.enter()
            Task.detached { [setup] in
                if isVerified(setup.peerVerifier.verify(chain: setup.chain, at: Timestamp(CertificatePeerVerifierTests.now))) {
                    verified.increment()
                }
                group.leave()
            }
        }
        // This test method runs on the main thread, outside the pool, so this wait is safe.
        let finished = group.wait(timeout: .now() + 60)
        XCTAssertEqual(finished, .success, "verification deadlocked with the cooperative pool saturated")
        XCTAssertEqual(verified.value, callers)
    }

    /// Verification needs no thread of the cooperative pool at all: with every pool thread held
    /// by a task that waits for the test, a call from outside the pool still finishes. (Before,
    /// it waited for a task that could not start until the pool was released.) Releasing the
    /// pool afterwards lets an old build's stuck call finish, so this test leaves no stuck threads.
    func testVerifiesWhileEveryPoolThreadIsBusy() throws {
        let setup = try makeSetup()
        let width = ProcessInfo.processInfo.activeProcessorCount  // the pool's width on Linux
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        for _ in 0..<width {
            Task.detached {
                started.signal()
                release.wait()
            }
        }
        for _ in 0..<width {
            XCTAssertEqual(started.wait(timeout: .now() + 30), .success, "pool tasks did not start")
        }
        let done = DispatchSemaphore(value: 0)
        let verified = Counter()
        let caller = Thread {
            if isVerified(setup.peerVerifier.verify(chain: setup.chain, at: Timestamp(CertificatePeerVerifierTests.now))) {
                verified.increment()
            }
            done.signal()
        }
        caller.start()
        let finished = done.wait(timeout: .now() + 30)
        for _ in 0..<width { release.signal() }
        XCTAssertEqual(finished, .success, "verification waited for a cooperative-pool thread")
        if finished == .timedOut { _ = done.wait(timeout: .now() + 30) }
        XCTAssertEqual(verified.value, 1)
    }
}

private func isVerified(_ result: PeerVerificationResult) -> Bool {
    if case .verified = result { return true }
    return false
}

private final class Counter: @unchecked Sendable {
    // @unchecked: `count` is only touched under `lock`.
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

/// Log lines collected from any thread.
final class PolicyLogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
