import ArgumentParser
import FabricAuth
import Foundation
import Identity
import Verbs

/// Whom this endpoint trusts: trust bundles, deny list and policy file. Shared
/// by `cert verify` (which runs the peer's checks offline) and `ping`.
struct TrustOptions: ParsableArguments {
    @Option(help: "Trust bundle PEM (one or more CA certificates). Repeat to trust several, e.g. during a CA rollover.")
    var bundle: [String] = []

    @Option(name: .customLong("trust-domain"), help: "Trust domain the bundle vouches for (default: from the CA's URI SAN).")
    var trustDomain: String?

    @Option(help: "Deny list to apply (sha256:/serial: lines).")
    var revocations: String?

    @Option(help: "Policy file: YAML (docs/operations.md, Policy files; check it with `fabricauth policy check`) or lines of 'allow|deny id|prefix|domain VALUE'.")
    var policy: String?

    @Option(name: .customLong("clock-skew"),
            help: "Accept certificates this far outside notBefore..notAfter, for clock differences between hosts (e.g. 30s, 2m; default 0).")
    var clockSkew: String?

    func validate() throws {
        guard !bundle.isEmpty else { throw ValidationError("give at least one --bundle (the CA certificate, e.g. from `fabricauth ca init`)") }
    }

    func verifier(maximumChainLength: Int = IdentityVerifier.defaultMaximumChainLength) throws -> IdentityVerifier {
        let trust = try TrustBundle(trustDomain: trustDomain, paths: bundle)
        let store = try revocations.map { path throws(IdentityError) in try RevocationStore(path: path) } ?? RevocationStore()
        // DurationParser refuses 0; leaving the flag out is how to ask for no tolerance.
        let tolerance = try clockSkew.map { text throws(IdentityError) in try DurationParser.parse(text) } ?? 0
        return IdentityVerifier(bundles: [trust], revocations: store, maximumChainLength: maximumChainLength,
                                clockSkewTolerance: tolerance)
    }

    /// The policy file's policy (either format, PolicyFile.load) followed by one allow rule
    /// per `allow` entry (named `--allow N`); an empty policy without a file.
    func loadPolicy(allow: [String] = []) throws(IdentityError) -> Policy {
        let file = try policy.map { path throws(IdentityError) in try PolicyFile.load(path: path) } ?? Policy(rules: [])
        var extra: [PolicyRule] = []
        for (index, rule) in allow.enumerated() {
            do {
                extra.append(try PolicyRule(line: "allow \(rule)", name: "--allow \(index + 1)"))
            } catch {
                throw IdentityError(.malformedPolicy, "--allow \(rule): \(error.message)")
            }
        }
        return file.adding(extra)
    }
}

/// Who this endpoint is and whom it trusts: the options `ping` (and later
/// `bench`) take.
struct IdentityOptions: ParsableArguments {
    @Option(help: "This endpoint's certificate chain (PEM: leaf, then intermediates).")
    var cert: String?

    @Option(help: "This endpoint's private key (PEM).")
    var key: String?

    @OptionGroup var trust: TrustOptions

    @Option(help: "Allow rule, e.g. 'domain cluster.example' or 'prefix spiffe://cluster.example/trainer'; repeatable.")
    var allow: [String] = []

    @Option(name: .customLong("quarantine-file"),
        help: "Shared quarantine list (SPIFFE IDs, `fabricauth quarantine add`): listed peers are refused and cut off; the file is watched, no restart needed.")
    var quarantineFile: String?

    @Option(name: .customLong("quarantine-for"),
        help: "How long a peer whose authentic messages break the protocol (or whose handshakes the policy keeps denying) is quarantined.")
    var quarantineFor: String = "10m"

    func validate() throws {
        guard cert != nil, key != nil else { throw ValidationError("give --cert and --key (make them with `fabricauth cert issue`)") }
        guard trust.policy != nil || !allow.isEmpty else {
            throw ValidationError("no peer is allowed: give --allow RULE or --policy FILE (the default is to deny everyone)")
        }
    }

    func channelConfiguration() throws -> ChannelConfiguration {
        let credential = try Credential(certificatePath: cert!, keyPath: key!)
        var c = ChannelConfiguration(credential: credential, verifier: try trust.verifier(),
                                     policy: try trust.loadPolicy(allow: allow))
        let log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data("fabricauth: \(line)\n".utf8)) }
        c.log = log
        c.quarantine = try ProcessIsolation.quarantine(file: quarantineFile,
            duration: try DurationParser.parse(quarantineFor), log: log)
        return c
    }
}

/// Device selection with perftest's flags.
struct DeviceOptions: ParsableArguments {
    @Option(name: [.customShort("d"), .customLong("ib-dev")], help: "RDMA device (default: the first one).")
    var device: String?

    @Option(name: [.customShort("x"), .customLong("gid-index")], help: "GID index (default: the IPv4-mapped RoCE v2 GID).")
    var gidIndex: Int?

    @Option(name: [.customShort("p"), .customLong("port")], help: "TCP port of the endpoint exchange.")
    var port: UInt16 = 18515

    func openContext() throws -> Context {
        let env = ProcessInfo.processInfo.environment
        return try Context(deviceName: device ?? env["FABRICAUTH_DEVICE"])
    }

    var resolvedGidIndex: Int? {
        gidIndex ?? ProcessInfo.processInfo.environment["FABRICAUTH_GID_INDEX"].flatMap(Int.init)
    }
}

/// Summary statistics of a series of samples, in the units given.
struct SampleStatistics {
    let count: Int
    let min: Double
    let max: Double
    let median: Double
    let average: Double
    let standardDeviation: Double
    let p99: Double
    let p999: Double

    init(_ samples: [Double]) {
        precondition(!samples.isEmpty)
        let sorted = samples.sorted()
        count = sorted.count
        min = sorted[0]
        max = sorted[sorted.count - 1]
        median = sorted[sorted.count / 2]
        average = sorted.reduce(0, +) / Double(sorted.count)
        let mean = average
        standardDeviation = (sorted.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(sorted.count)).squareRoot()
        p99 = sorted[Swift.min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        p999 = sorted[Swift.min(sorted.count - 1, Int(Double(sorted.count) * 0.999))]
    }
}
