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

    /// The bundle, deny list and policy as sources that reload from their files
    /// (ReloadableFile), with `allow` rules added to the policy on every load.
    func sources(credential: CredentialSource, allow: [String], log: (@Sendable (String) -> Void)?) throws -> IdentitySources {
        let bundle = try TrustBundleSource(trustDomain: trustDomain, paths: self.bundle, log: log)
        let store = try revocations.map { path throws(IdentityError) in try RevocationStore(path: path, log: log) }
            ?? RevocationStore()
        let extra = try allowRules(allow)
        let policyStore = try policy.map { path throws(IdentityError) in try PolicyStore(path: path, extraRules: extra, log: log) }
            ?? PolicyStore(policy: Policy(rules: []).adding(extra))
        var sources = IdentitySources(credential: credential, bundles: [bundle], revocations: store, policy: policyStore)
        sources.clockSkewTolerance = try clockSkew.map { text throws(IdentityError) in try DurationParser.parse(text) } ?? 0
        return sources
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
        return file.adding(try allowRules(allow))
    }

    /// One allow rule per `allow` entry, named `--allow N`.
    func allowRules(_ allow: [String]) throws(IdentityError) -> [PolicyRule] {
        var extra: [PolicyRule] = []
        for (index, rule) in allow.enumerated() {
            do {
                extra.append(try PolicyRule(line: "allow \(rule)", name: "--allow \(index + 1)"))
            } catch {
                throw IdentityError(.malformedPolicy, "--allow \(rule): \(error.message)")
            }
        }
        return extra
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

    @Option(name: .customLong("reload-interval"),
            help: "Responders: how often to look for changed --cert/--key/--bundle/--policy/--revocations files (e.g. 2s; default 5s). SIGHUP reloads at once.")
    var reloadInterval: String?

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

    /// The configuration of a channel whose every handshake reads the newest
    /// credential, bundle, deny list and policy from their files. With
    /// `watch` (long-running responders) the files are also polled every
    /// `--reload-interval` and reloaded on SIGHUP (ReloadWatcher), and live
    /// channels follow trust changes (ChannelConfiguration.trustRecheckInterval).
    func channelConfiguration(watch: Bool = false) throws -> ChannelConfiguration {
        let log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data("fabricauth: \(line)\n".utf8)) }
        let credential = try CredentialSource(certificatePath: cert!, keyPath: key!, log: log)
        var c = ChannelConfiguration(sources: try trust.sources(credential: credential, allow: allow, log: log))
        c.log = log
        c.quarantine = try ProcessIsolation.quarantine(file: quarantineFile,
            duration: try DurationParser.parse(quarantineFor), log: log)
        if watch {
            let interval = try reloadInterval.map { text throws(IdentityError) in try DurationParser.parse(text) } ?? 5
            ReloadWatcher.shared.startPolling(every: .milliseconds(Int64(interval * 1000)))
            try ReloadWatcher.shared.reloadOnSIGHUP()
        }
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
