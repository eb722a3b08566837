import ArgumentParser
import FabricAuth
import Foundation
import Identity
import Verbs

/// Who this endpoint is and whom it trusts: the options `ping` and `bench`
/// share (certificate, key, trust bundles, deny list, policy).
struct IdentityOptions: ParsableArguments {
    @Option(help: "This endpoint's certificate chain (PEM: leaf, then intermediates).")
    var cert: String?

    @Option(help: "This endpoint's private key (PEM).")
    var key: String?

    @Option(help: "Trust bundle PEM; repeat to trust several CAs (rollover).")
    var bundle: [String] = []

    @Option(name: .customLong("trust-domain"), help: "Trust domain of the bundle (default: from the CA's URI SAN).")
    var trustDomain: String?

    @Option(help: "Deny list of fingerprints and serials (sha256:/serial: lines).")
    var revocations: String?

    @Option(help: "Policy file: lines of 'allow|deny id|prefix|domain VALUE'.")
    var policy: String?

    @Option(help: "Allow rule, e.g. 'domain cluster.example' or 'prefix spiffe://cluster.example/trainer'; repeatable.")
    var allow: [String] = []

    func validate() throws {
        guard cert != nil, key != nil else { throw ValidationError("give --cert and --key (make them with `fabricauth cert issue`)") }
        guard !bundle.isEmpty else { throw ValidationError("give at least one --bundle (the CA certificate, e.g. from `fabricauth ca init`)") }
        guard policy != nil || !allow.isEmpty else {
            throw ValidationError("no peer is allowed: give --allow RULE or --policy FILE (the default is to deny everyone)")
        }
    }

    func channelConfiguration() throws -> ChannelConfiguration {
        let credential = try Credential(certificatePath: cert!, keyPath: key!)
        let trust = try TrustBundle(trustDomain: trustDomain, paths: bundle)
        let store = try revocations.map { path throws(IdentityError) in try RevocationStore(path: path) } ?? RevocationStore()
        var text = allow.map { "allow \($0)" }.joined(separator: "\n")
        if let policy {
            guard let data = FileManager.default.contents(atPath: policy) else {
                throw IdentityError(.io, "cannot read policy file \(policy)")
            }
            text += "\n" + String(decoding: data, as: UTF8.self)
        }
        var c = ChannelConfiguration(credential: credential,
            verifier: IdentityVerifier(bundles: [trust], revocations: store), policy: try Policy(text: text))
        c.log = { line in FileHandle.standardError.write(Data("fabricauth: \(line)\n".utf8)) }
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
