import Foundation
import XCTest

@testable import Identity

/// Seeded random-input and mutation testing of every parsing entry point: nothing may
/// crash on any byte string, failures must be `IdentityError`s with a message, and no
/// mutated chain may verify unless it is byte-identical to the original.
///
/// 120,000 mutated inputs by default (FABRICAUTH_FUZZ_ITERATIONS overrides; the seed is
/// FABRICAUTH_FUZZ_SEED or fixed, and printed so a failure can be replayed).
final class MutationFuzzTests: XCTestCase {
    /// SplitMix64: small, seedable, good enough to pick mutations.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ input: [UInt8], other: [UInt8], using rng: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<9, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty: bytes[position] = UInt8.random(in: 0...255, using: &rng)
            case 2: bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: position)
            case 3 where !bytes.isEmpty: bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...16, using: &rng)))
            case 4: bytes = Array(bytes.prefix(position))
            case 5 where !bytes.isEmpty:
                // Lengths are where DER parsers break: set a byte to a length-ish value.
                bytes[position] = [0x00, 0x7F, 0x80, 0x81, 0x82, 0x84, 0x88, 0xFF].randomElement(using: &rng)!
            case 6 where !other.isEmpty:
                let cut = Int.random(in: 0..<other.count, using: &rng)
                bytes = Array(bytes.prefix(position)) + other[cut...]
            case 7 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...32, using: &rng))
                bytes.insert(contentsOf: bytes[position..<end], at: end)
            default:
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    func testNothingCrashesOnMutatedInputs() async throws {
        let environment = ProcessInfo.processInfo.environment
        let iterations = environment["FABRICAUTH_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 120_000
        let seed = environment["FABRICAUTH_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x5EED_FAB1_2026
        print("MutationFuzzTests: \(iterations) inputs, seed \(seed)")
        var rng = SeededGenerator(state: seed)

        let root = TestPKI.root()
        let intermediate = TestPKI.intermediate(under: root)
        let leaf = TestPKI.leaf(under: intermediate)
        let p256Leaf = TestPKI.leaf(under: root, p256: true)
        let verifier = TestPKI.verifier([root])
        let keyPEM = Array(try PrivateKeyFile.pem(leaf.key).utf8)
        XCTAssertNoThrow(try Credential(certificatePEM: Array(leaf.pem.utf8), keyPEM: keyPEM))
        let corpus: [[UInt8]] = [
            leaf.der, intermediate.der, root.der, p256Leaf.der,
            Array((leaf.pem + intermediate.pem).utf8), Array(root.pem.utf8),
            keyPEM, Array(try PrivateKeyFile.pem(p256Leaf.key).utf8),
            Array("spiffe://example.org/ns/web".utf8),
            Array("sha256:\(Fingerprint(der: leaf.der))\nserial:0a1b # x\n".utf8),
            Array("allow prefix spiffe://example.org/ns\ndeny id spiffe://example.org/ns/x\n".utf8),
        ]
        var parsedCertificates = 0
        var errors: [IdentityError.Code: Int] = [:]
        let start = Date()
        for iteration in 0..<iterations {
            let base = corpus[iteration % corpus.count]
            let input = Self.mutate(base, other: corpus[Int.random(in: 0..<corpus.count, using: &rng)], using: &rng)
            // Certificates: PEM or DER; whatever parses goes on to the profile checks and,
            // as a credential, to the key-match check.
            do {
                let certificates = try CertificateParsing.certificates(pemOrDER: input)
                parsedCertificates += 1
                _ = CertificateReport.describe(certificates)
                _ = CertificateReport.profileProblem(certificates)
                do {
                    _ = try Credential(chain: certificates, privateKey: leaf.key)
                } catch {
                    XCTAssertFalse(error.message.isEmpty)
                }
            } catch {
                XCTAssertFalse(error.message.isEmpty)
                errors[error.code, default: 0] += 1
            }
            do {
                _ = try PrivateKeyParsing.privateKey(pemOrDER: input)
            } catch {
                XCTAssertFalse(error.message.isEmpty)
            }
            // Text formats.
            let text = String(decoding: input, as: UTF8.self)
            _ = try? SPIFFEID(text)
            _ = try? RevocationList(text: text)
            _ = try? Policy(text: text)
            // Policy files (YAML through libyaml, or lines): every problem has a position.
            if iteration % 4 == 0 {
                XCTAssertTrue(PolicyFile.check(input, file: "m").diagnostics.allSatisfy { $0.line >= 1 && $0.column >= 1 })
            }
            // Full verification of a mutated leaf in a real chain, for a slice of the inputs.
            if iteration % 100 == 0 {
                let mutatedLeaf = Self.mutate(leaf.der, other: intermediate.der, using: &rng)
                let result = await verifier.verify(chain: [mutatedLeaf, intermediate.der], at: TestPKI.now)
                if result.identity != nil {
                    XCTAssertEqual(mutatedLeaf, leaf.der, "a mutated certificate verified")
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        print("MutationFuzzTests: \(iterations) inputs in \(String(format: "%.1f", seconds)) s; \(parsedCertificates) parsed as certificates; errors \(errors)")
        // The harness must reach deep code, not just fail at the first byte.
        XCTAssertGreaterThan(errors[.malformedDER, default: 0], iterations / 100)
        XCTAssertGreaterThan(errors[.malformedPEM, default: 0], iterations / 1000)
        XCTAssertGreaterThan(parsedCertificates, 0)
    }

    func testUnmutatedChainStillVerifies() async {
        // Guards the assertion above: the original does verify, so "no mutant verifies" means something.
        let root = TestPKI.root()
        let intermediate = TestPKI.intermediate(under: root)
        let leaf = TestPKI.leaf(under: intermediate)
        assertVerified(await TestPKI.verifier([root]).verify(chain: [leaf.der, intermediate.der], at: TestPKI.now))
    }
}
