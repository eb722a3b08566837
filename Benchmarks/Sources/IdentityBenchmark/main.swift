// IdentityBenchmark: microseconds per full verification of a two-level chain
// (leaf + intermediate, to a root) against a bundle holding two CAs, as during a CA rollover.
//
//   swift run -c release --package-path Benchmarks --scratch-path .build-identity-bench IdentityBenchmark [iterations]
//
// "Full verification" is IdentityVerifier.verify(chain:at:) on DER bytes: parsing both
// certificates, chain building with signature checks (two signatures), the SVID profile,
// validity, the deny list (100 entries) and RFC 5280 policy; its timing includes one
// `await` (verify is async). The recheck row is the per-rekey check of an already verified
// identity, timed synchronously. Wall-clock time on one thread,
// best and median of 7 batches. Not a test: numbers vary with the machine.
import Foundation
import Identity

let iterations = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 2000
let now = Date()

func makeChain(_ keyType: KeyType) throws -> (bundle: TrustBundle, chain: [[UInt8]]) {
    let (oldCA, _) = try CertificateAuthority.create(trustDomain: "bench.example.org", keyType: keyType, now: now, name: "old CA")
    let (newCA, _) = try CertificateAuthority.create(trustDomain: "bench.example.org", keyType: keyType, now: now, name: "new CA")
    let (intermediate, _) = try newCA.issueIntermediate(keyType: keyType, ttl: 30 * 86400, now: now)
    let (chain, _) = try intermediate.issue(id: SPIFFEID("spiffe://bench.example.org/ns/storage/node-7"), keyType: keyType, now: now)
    precondition(chain.count == 2, "leaf + intermediate")
    let bundle = try TrustBundle(trustDomain: "bench.example.org", anchors: [oldCA.certificate, newCA.certificate])
    return (bundle, chain.map(CertificateParsing.der))
}

func denyList() -> RevocationList {
    var list = RevocationList()
    for index in 0..<100 { list.add(fingerprint: Fingerprint(der: [UInt8(index), 1, 2, 3])) }
    return list
}

func measure(_ body: () async -> Void) async -> (best: Double, median: Double) {
    for _ in 0..<max(1, iterations / 10) { await body() }  // warm up
    var batches: [Double] = []
    for _ in 0..<7 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { await body() }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        batches.append(Double(elapsed) / 1000 / Double(iterations))
    }
    batches.sort()
    return (batches[0], batches[3])
}

/// For synchronous work: no `await` per iteration, so no executor hop is timed.
func measureSync(_ body: () -> Void) -> (best: Double, median: Double) {
    for _ in 0..<max(1, iterations / 10) { body() }
    var batches: [Double] = []
    for _ in 0..<7 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { body() }
        let elapsed = DispatchTime.now().uptimeNanoseconds - start
        batches.append(Double(elapsed) / 1000 / Double(iterations))
    }
    batches.sort()
    return (batches[0], batches[3])
}

func row(_ name: String, _ result: (best: Double, median: Double)) {
    print(name.padding(toLength: 52, withPad: " ", startingAt: 0)
          + String(format: "%10.1f %10.1f", result.best, result.median))
}

print("IdentityBenchmark: \(iterations) iterations x 7 batches")
print("case".padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: "%10@ %10@", "best µs" as NSString, "median µs" as NSString))
for keyType in [KeyType.ed25519, .p256] {
    let (bundle, chain) = try makeChain(keyType)
    let verifier = IdentityVerifier(bundles: [bundle], revocations: RevocationStore(list: denyList()))
    guard case .verified(let identity) = await verifier.verify(chain: chain, at: now) else {
        fatalError("benchmark chain does not verify")
    }
    row("verify 2-level chain, 2-CA bundle (\(keyType))", await measure {
        guard case .verified = await verifier.verify(chain: chain, at: now) else { fatalError() }
    })
    row("recheck verified identity (\(keyType))", measureSync {
        precondition(verifier.recheck(identity, at: now) == nil)
    })
    row("  of which: deny-list lookup, 3 certs (\(keyType))", measureSync {
        precondition(verifier.revocations.check(identity) == nil)
    })
    row("parse 2 certificates only (\(keyType))", measureSync {
        for der in chain { _ = try! CertificateParsing.certificate(der: der) }
    })
}
