// The policy file (Identity's PolicyFile: YAML through Yams/libyaml, or the line format),
// as `--policy`, FABRICAUTH_POLICY and `fabricauth policy check` read it.
// Oracles: every diagnostic has a line and column from 1; a file the loader accepts has no
// `check` problem when it is YAML; its YAML rendering (`policy convert`, leaving out what
// `check` reports) parses back, with no problem, to the same rules, version and decisions.
import FuzzSupport
import Identity

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let (format, diagnostics) = PolicyFile.check(bytes, file: "fuzz")
    precondition(diagnostics.allSatisfy { $0.line >= 1 && $0.column >= 1 }, "a diagnostic without a position")
    guard let policy = try? PolicyFile.parse(bytes, file: "fuzz") else { return 0 }
    if format == .yaml { precondition(diagnostics.isEmpty, "the loader accepted a YAML file check refuses") }
    var commentedOut: [String: String] = [:]
    for d in diagnostics {
        if let rule = policy.rules.first(where: { $0.line == d.line }) { commentedOut[rule.name] = d.message }
    }
    let text = policy.yamlText(version: policy.version ?? "fuzz", commentedOut: commentedOut)
    let again: Policy
    do {
        again = try PolicyFile.parse(Array(text.utf8), file: "rendered")
    } catch {
        preconditionFailure("a policy's own YAML does not parse: \(error)\n\(text)")
    }
    precondition(PolicyFile.check(Array(text.utf8), file: "rendered").diagnostics.isEmpty, "the rendered YAML fails check")
    let kept = policy.rules.filter { commentedOut[$0.name] == nil }
    precondition(again.rules.count == kept.count && zip(again.rules, kept).allSatisfy {
        $0.name == $1.name && $0.summary == $1.summary && $0.hasSameEffectAndSelectors(as: $1)
    }, "rules changed on a round trip")
    precondition(again.version == (policy.version ?? "fuzz"), "version changed on a round trip")
    // The rules left out never decide, so both decide alike for IDs taken from the rules.
    for rule in policy.rules {
        for selector in [rule.match] + (rule.local.map { [$0] } ?? []) {
            guard case .exact(let id) = selector else { continue }
            for local in [nil, id] {
                let a = policy.decide(local: local, peer: id), b = again.decide(local: local, peer: id)
                precondition(a.allowed == b.allowed && a.rule?.name == b.rule?.name, "a decision changed on a round trip")
            }
        }
    }
    return 0
}

/// Seeds: a YAML file using every key and selector, the line format, and a file with errors.
let seeds: [(name: String, bytes: [UInt8])] = [
    ("policy.yaml", Array("""
        version: "2026-12-01"
        description: seed
        rules:
          - name: trainers
            description: ranks talk to ranks
            effect: allow
            peer: {prefix: spiffe://fuzz.test/trainer}
            local: {prefix: spiffe://fuzz.test/trainer}
          - name: storage
            effect: allow
            peer: {pattern: spiffe://fuzz.test/ns/*/storage/**}
          - name: ops
            effect: allow
            peer: {domain: ops.fuzz.test}
          - name: legacy
            effect: deny
            peer: {id: spiffe://fuzz.test/trainer/legacy}

        """.utf8)),
    ("policy-lines.txt", Array("""
        # line format
        allow domain ops.fuzz.test
        allow prefix spiffe://fuzz.test/trainer
        allow id spiffe://fuzz.test/trainer/rank0
        deny id spiffe://fuzz.test/trainer/legacy

        """.utf8)),
    ("policy-bad.yaml", Array("""
        version: "1"
        rules:
          - name: a
            effect: [allow]
            peer: {id: spiffe://fuzz.test/x, domain: fuzz.test}
          - name: a
            effect: allow
            peer: &p {pattern: "spiffe://fuzz.test/web-*"}
            extra: 1

        """.utf8)),
]

@_cdecl("FuzzPolicyFiles_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: { seeds }, callback: { fuzzOneInput($0, $1) })
}
