/// The plug-in's configuration, read from the environment of the training
/// process (NCCL gives a plug-in nothing else). Parsing is kept apart from
/// opening files and devices so that every rule is unit-tested on any host.
///
/// Identity has no default on purpose: without a certificate, key, trust
/// bundle and a rule that allows someone, `init` fails and NCCL reports the
/// plug-in as unusable, rather than carrying the job's traffic unauthenticated.
public struct PluginSettings: Equatable, Sendable {
    /// FABRICAUTH_CERT: this rank's certificate chain (PEM, leaf first).
    public var certificatePath: String
    /// FABRICAUTH_KEY: its private key (PEM).
    public var keyPath: String
    /// FABRICAUTH_BUNDLE: trust bundle PEM files, separated by ':' (several during a CA rollover).
    public var bundlePaths: [String]
    /// FABRICAUTH_TRUST_DOMAIN: the domain the bundle vouches for (default: from the CA's URI SAN).
    public var trustDomain: String?
    /// FABRICAUTH_ALLOW: one allow rule, as the CLI's `--allow` ("prefix spiffe://cluster/trainer").
    public var allowRule: String?
    /// FABRICAUTH_POLICY: a policy file, as the CLI's `--policy`.
    public var policyPath: String?
    /// FABRICAUTH_REVOCATIONS: a deny list (sha256:/serial: lines).
    public var revocationsPath: String?
    /// FABRICAUTH_DEVICE, else the first device of NCCL_IB_HCA; nil: the first device present.
    public var deviceName: String?
    /// Devices NCCL_IB_HCA excludes ("^mlx5_1,mlx5_2"), consulted when `deviceName` is nil.
    public var excludedDevices: [String]
    /// FABRICAUTH_GID_INDEX, else NCCL_IB_GID_INDEX; nil: the IPv4-mapped RoCE v2 GID.
    public var gidIndex: Int?
    /// FABRICAUTH_LISTEN_ADDRESS: the address peers reach this rank's listeners
    /// at; nil: the IPv4 address of the device's GID (the RoCE netdev's address).
    public var listenAddress: String?
    /// FABRICAUTH_SETUP_TIMEOUT (seconds): bound on each connection's TCP
    /// exchange and handshake, and on a listener's wait for its one client.
    public var setupTimeoutSeconds: Int
    /// FABRICAUTH_METRICS_FILE: where the Prometheus exposition is written
    /// (atomically, node_exporter's textfile convention); nil: no metrics.
    public var metricsFilePath: String? = nil
    /// FABRICAUTH_METRICS_INTERVAL (seconds): time between those writes.
    public var metricsIntervalSeconds: Int = defaultMetricsIntervalSeconds
    /// FABRICAUTH_RELOAD_INTERVAL (seconds): how often the certificate, key,
    /// bundle, policy and deny-list files are checked for changes and
    /// reloaded (ReloadWatcher); new connections use the newest, live comms
    /// follow trust changes within their recheck interval.
    public var reloadIntervalSeconds: Int = PluginSettings.defaultReloadIntervalSeconds
    public static let defaultReloadIntervalSeconds = 5
    /// FABRICAUTH_AUDIT_LOG: the audit trail's file (`%p`: the process ID, so
    /// that ranks on one host never share a file), or `-` for stderr; nil: none.
    public var auditLogPath: String? = nil
    /// FABRICAUTH_AUDIT_LOG_MAX_BYTES: the size at which the file is rotated.
    public var auditLogMaxBytes: Int = defaultAuditLogMaxBytes
    /// FABRICAUTH_AUDIT_LOG_KEEP: rotated files kept.
    public var auditLogKeep: Int = defaultAuditLogKeep
    /// FABRICAUTH_QUARANTINE_FILE: the shared quarantine list (SPIFFE IDs,
    /// `fabricauth quarantine add`), watched while the job runs; listed peers
    /// are refused and their comms cut off. nil: only this process's own
    /// quarantines (misbehaving peers) apply.
    public var quarantineFilePath: String? = nil
    /// FABRICAUTH_MAC_THREADS: worker threads that seal, verify and copy the
    /// comms' messages off NCCL's proxy thread (PluginWorkers.swift); each comm
    /// is served by one of them. 0: all of it inline on NCCL's thread.
    public var macThreads: Int = defaultMACThreads

    public static let defaultSetupTimeoutSeconds = 120
    /// Two workers: one core's MAC work is about 25 GB/s with ipsec-mb, so two
    /// carry a 400 Gb/s port's 50 GB/s of send plus receive traffic
    /// (docs/performance.md), while costing a small job only two mostly idle threads.
    public static let defaultMACThreads = 2
    /// More workers than a node has cores per NIC only compete with NCCL's own threads.
    public static let maxMACThreads = 64
    public static let defaultMetricsIntervalSeconds = 5
    public static let defaultAuditLogMaxBytes = 64 << 20
    public static let defaultAuditLogKeep = 5

    /// Reads the settings from `environment`, or says which variable to set or fix.
    public static func parse(_ environment: [String: String]) throws(PluginSettingsError) -> PluginSettings {
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmingWhitespace(), !v.isEmpty else { return nil }
            return v
        }
        var missing: [String] = []
        let cert = value("FABRICAUTH_CERT")
        let key = value("FABRICAUTH_KEY")
        let bundle = value("FABRICAUTH_BUNDLE")
        if cert == nil { missing.append("FABRICAUTH_CERT (this rank's certificate PEM, from `fabricauth cert issue`)") }
        if key == nil { missing.append("FABRICAUTH_KEY (its private key PEM)") }
        if bundle == nil { missing.append("FABRICAUTH_BUNDLE (the CA certificate PEM, from `fabricauth ca init`)") }
        let allow = value("FABRICAUTH_ALLOW")
        let policy = value("FABRICAUTH_POLICY")
        if allow == nil && policy == nil {
            missing.append("FABRICAUTH_ALLOW (e.g. \"prefix spiffe://cluster.example/trainer\") or FABRICAUTH_POLICY (a policy file); the default is to deny every peer")
        }
        guard missing.isEmpty, let cert, let key, let bundle else {
            throw PluginSettingsError("missing configuration, set " + missing.joined(separator: "; "))
        }

        var device = value("FABRICAUTH_DEVICE").map { HCASelection(device: $0) }
        var excluded: [String] = []
        if device == nil, let hca = value("NCCL_IB_HCA") {
            let selection = try HCASelection.parse(hca)
            device = selection.first
            excluded = selection.excluded
        }
        if let device, let port = device.port, port != 1 {
            throw PluginSettingsError("\(device.device):\(port): FabricAuth uses port 1 of a device; "
                + "set FABRICAUTH_DEVICE to a device whose port 1 is the one to use")
        }

        var gidIndex: Int?
        for name in ["FABRICAUTH_GID_INDEX", "NCCL_IB_GID_INDEX"] {
            guard let text = value(name) else { continue }
            guard let n = Int(text), n >= 0 else {
                throw PluginSettingsError("\(name)=\(text) is not a GID index (a number >= 0; `fabricauth doctor` lists them)")
            }
            gidIndex = n
            break
        }

        var timeout = defaultSetupTimeoutSeconds
        if let text = value("FABRICAUTH_SETUP_TIMEOUT") {
            guard let n = Int(text), n > 0 else {
                throw PluginSettingsError("FABRICAUTH_SETUP_TIMEOUT=\(text) is not a number of seconds > 0")
            }
            timeout = n
        }

        var metricsInterval = defaultMetricsIntervalSeconds
        if let text = value("FABRICAUTH_METRICS_INTERVAL") {
            guard let n = Int(text), n > 0 else {
                throw PluginSettingsError("FABRICAUTH_METRICS_INTERVAL=\(text) is not a number of seconds > 0")
            }
            metricsInterval = n
        }
        var reloadInterval = defaultReloadIntervalSeconds
        if let text = value("FABRICAUTH_RELOAD_INTERVAL") {
            guard let n = Int(text), n > 0 else {
                throw PluginSettingsError("FABRICAUTH_RELOAD_INTERVAL=\(text) is not a number of seconds > 0")
            }
            reloadInterval = n
        }
        var macThreads = defaultMACThreads
        if let text = value("FABRICAUTH_MAC_THREADS") {
            guard let n = Int(text), (0...maxMACThreads).contains(n) else {
                throw PluginSettingsError("FABRICAUTH_MAC_THREADS=\(text) is not a number of threads from 0 "
                    + "(MAC work on NCCL's thread) to \(maxMACThreads)")
            }
            macThreads = n
        }
        let metricsFile = value("FABRICAUTH_METRICS_FILE")
        if let metricsFile, metricsFile.hasSuffix("/") {
            throw PluginSettingsError("FABRICAUTH_METRICS_FILE=\(metricsFile) is a directory; name a file, e.g. /var/lib/node_exporter/fabricauth.prom")
        }

        let auditLog = value("FABRICAUTH_AUDIT_LOG")
        if let auditLog, auditLog.hasSuffix("/") {
            throw PluginSettingsError("FABRICAUTH_AUDIT_LOG=\(auditLog) is a directory; name a file, e.g. /var/log/fabricauth/audit-%p.jsonl, or - for stderr")
        }
        var auditMaxBytes = defaultAuditLogMaxBytes
        if let text = value("FABRICAUTH_AUDIT_LOG_MAX_BYTES") {
            guard let n = Int(text), n >= 4096 else {
                throw PluginSettingsError("FABRICAUTH_AUDIT_LOG_MAX_BYTES=\(text) is not a number of bytes >= 4096")
            }
            auditMaxBytes = n
        }
        var auditKeep = defaultAuditLogKeep
        if let text = value("FABRICAUTH_AUDIT_LOG_KEEP") {
            guard let n = Int(text), n >= 1 else {
                throw PluginSettingsError("FABRICAUTH_AUDIT_LOG_KEEP=\(text) is not a number of files >= 1")
            }
            auditKeep = n
        }

        var settings = PluginSettings(
            certificatePath: cert, keyPath: key,
            bundlePaths: bundle.split(separator: ":").map(String.init),
            trustDomain: value("FABRICAUTH_TRUST_DOMAIN"),
            allowRule: allow, policyPath: policy, revocationsPath: value("FABRICAUTH_REVOCATIONS"),
            deviceName: device?.device, excludedDevices: excluded, gidIndex: gidIndex,
            listenAddress: value("FABRICAUTH_LISTEN_ADDRESS"), setupTimeoutSeconds: timeout,
            metricsFilePath: metricsFile, metricsIntervalSeconds: metricsInterval, reloadIntervalSeconds: reloadInterval,
            quarantineFilePath: value("FABRICAUTH_QUARANTINE_FILE"))
        settings.auditLogPath = auditLog
        settings.auditLogMaxBytes = auditMaxBytes
        settings.auditLogKeep = auditKeep
        settings.macThreads = macThreads
        return settings
    }
}

/// Configuration the plug-in can't use; `message` says what to set or fix.
public struct PluginSettingsError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One entry of NCCL_IB_HCA, NCCL's device list (NCCL docs, env.html
/// "NCCL_IB_HCA"): `[^][=]dev[:port][,dev[:port]]...`; '^' excludes the
/// devices listed, '=' asks for exact names (FabricAuth always matches exactly).
struct HCASelection: Equatable {
    var device: String
    var port: Int?

    /// The first device to use (nil when the list only excludes) and the excluded ones.
    static func parse(_ text: String) throws(PluginSettingsError) -> (first: HCASelection?, excluded: [String]) {
        var list = Substring(text)
        let excluding = list.hasPrefix("^")
        if excluding { list = list.dropFirst() }
        if list.hasPrefix("=") { list = list.dropFirst() }
        var entries: [HCASelection] = []
        for item in list.split(separator: ",") {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let name = parts.first, !name.isEmpty else {
                throw PluginSettingsError("NCCL_IB_HCA=\(text): entry '\(item)' is not dev[:port]")
            }
            var port: Int?
            if parts.count == 2 {
                guard let p = Int(parts[1]), p >= 1 else {
                    throw PluginSettingsError("NCCL_IB_HCA=\(text): port '\(parts[1])' is not a number >= 1")
                }
                port = p
            }
            entries.append(HCASelection(device: String(name), port: port))
        }
        guard !entries.isEmpty else { throw PluginSettingsError("NCCL_IB_HCA=\(text) names no device") }
        return excluding ? (nil, entries.map(\.device)) : (entries[0], [])
    }

    init(device: String, port: Int? = nil) {
        self.device = device
        self.port = port
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s = s.dropFirst() }
        while let c = s.last, c.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
