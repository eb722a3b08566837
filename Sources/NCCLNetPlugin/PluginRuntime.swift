#if canImport(Glibc)
import Glibc
#endif
import CNCCLNet
import FabricAuth
import FabricAuthMetrics
import Foundation
import Identity
import Synchronization
import Verbs

/// What `init` sets up once per load: the device, this rank's identity and
/// trust as a ``ChannelConfiguration``, and the address its listeners are
/// reached at. Immutable; every comm keeps the runtime it was made with, so a
/// later `init` (NCCL may load the plug-in again) never changes a live comm.
final class PluginRuntime: @unchecked Sendable {
    let settings: PluginSettings
    let context: Context
    let configuration: ChannelConfiguration
    let listenAddress: String
    // Properties NCCL reads through getProperties. NCCL may keep the strings'
    // pointers past a later init, so they are interned for the life of the process.
    let deviceNameC: UnsafeMutablePointer<CChar>
    let pciPathC: UnsafeMutablePointer<CChar>?
    let guid: UInt64
    let speedMbps: Int32
    let maxComms: Int32
    /// This rank's sessions with other ranks' listeners (client side), so
    /// every connection to a peer process after the first resumes.
    let sessions = SessionCache()
    /// Connects NCCL has started and not yet seen finish.
    let connects = ConnectSetups<ConnectorSetup>()
    /// Made by the first `listen` (an `init` that fails, or a rank that never
    /// listens, opens no port); stopped when a new load replaces this runtime.
    private let listener = Mutex<ProcessListener?>(nil)
    private let stopped = Atomic<Bool>(false)
    /// FABRICAUTH_MAC_THREADS workers that seal and verify for this load's comms
    /// (nil: inline on NCCL's thread). They stop when the runtime goes: after a
    /// later init replaced it and its last comm and context were released.
    let macWorkers: MACWorkerPool?

    /// Requests one comm holds at once: NCCL_NET_MAX_REQUESTS (32) in NCCL's
    /// net headers; NCCL never has more outstanding on one comm.
    static let maxRequests = Int(NCCL_NET_MAX_REQUESTS)
    /// Buffers one grouped receive may cover (ReceiveSizes.capacity), reported
    /// to NCCL as `maxRecvs` by getProperties.
    static let maxRecvs = 8
    /// WRITE target windows of one comm: every outstanding request may be a
    /// grouped receive of `maxRecvs` buffers, so NCCL never meets a NULL
    /// request below the limits getProperties reports.
    static let windowsPerComm = maxRequests * maxRecvs

    /// Loaded once by `init`; nil before it or after it failed.
    static let current = Mutex<PluginRuntime?>(nil)

    static func load() -> PluginRuntime? { current.withLock { $0 } }

    /// Makes `runtime` the current one (nil: init failed) and stops the one it
    /// replaces: NCCL calls `init` again only after its last communicator of
    /// the previous load is gone, so nothing listens there any more.
    static func replaceCurrent(with runtime: PluginRuntime?) {
        let old = current.withLock { c in
            defer { c = runtime }
            return c
        }
        if let old, old !== runtime { old.stop() }
    }

    /// The load's one listener, made on first use.
    func processListener() throws(ChannelError) -> ProcessListener {
        try listener.withLock { (l: inout ProcessListener?) throws(ChannelError) -> ProcessListener in
            guard !stopped.load(ordering: .acquiring) else { throw .closed }
            if let l { return l }
            let made = try ProcessListener(context: context, configuration: configuration, address: listenAddress)
            l = made
            return made
        }
    }

    private func stop() {
        stopped.store(true, ordering: .releasing)
        listener.withLock { $0 }?.stop()
        connects.removeAll()
    }

    /// FABRICAUTH_POLICY through the Identity module's one loader (either format, the same
    /// FILE:LINE:COLUMN errors as `fabricauth policy check`), then FABRICAUTH_ALLOW as an
    /// allow rule named `FABRICAUTH_ALLOW`.
    static func loadPolicy(_ settings: PluginSettings) throws(PluginSettingsError) -> Policy {
        var policy = Policy(rules: [])
        if let path = settings.policyPath {
            do {
                policy = try PolicyFile.load(path: path)
            } catch {
                throw PluginSettingsError("FABRICAUTH_POLICY=\(path): \(error)")
            }
        }
        if let allow = settings.allowRule {
            do {
                policy = policy.adding([try PolicyRule(line: "allow \(allow)", name: "FABRICAUTH_ALLOW")])
            } catch {
                throw PluginSettingsError("FABRICAUTH_ALLOW=\(allow): \(error)")
            }
        }
        return policy
    }

    init(settings: PluginSettings) throws(PluginSettingsError) {
        self.settings = settings
        // Every source reloads from its file (ReloadWatcher's tick below): each
        // connection's handshake uses the newest credential and trust, and live
        // comms recheck their peers against them.
        let log: @Sendable (String) -> Void = { line in PluginLog.info(line) }
        let credential: CredentialSource
        do {
            credential = try CredentialSource(certificatePath: settings.certificatePath, keyPath: settings.keyPath, log: log)
        } catch {
            throw PluginSettingsError("FABRICAUTH_CERT=\(settings.certificatePath) / FABRICAUTH_KEY=\(settings.keyPath): \(error)")
        }
        let bundle: TrustBundleSource
        let store: RevocationStore
        do {
            bundle = try TrustBundleSource(trustDomain: settings.trustDomain, paths: settings.bundlePaths, log: log)
            store = try settings.revocationsPath.map { path throws(IdentityError) in try RevocationStore(path: path, log: log) }
                ?? RevocationStore()
        } catch {
            throw PluginSettingsError("FABRICAUTH_BUNDLE / FABRICAUTH_REVOCATIONS: \(error)")
        }
        let policy = try Self.loadPolicy(settings)  // the start-up check, with its error messages
        let policyStore: PolicyStore
        if let path = settings.policyPath {
            let extra = Array(policy.rules.suffix(settings.allowRule == nil ? 0 : 1))
            do {
                policyStore = try PolicyStore(path: path, extraRules: extra, log: log)
            } catch {
                throw PluginSettingsError("FABRICAUTH_POLICY=\(path): \(error)")
            }
        } else {
            policyStore = PolicyStore(policy: policy)
        }
        let sources = IdentitySources(credential: credential, bundles: [bundle], revocations: store, policy: policyStore)

        do {
            var name = settings.deviceName
            if name == nil, !settings.excludedDevices.isEmpty {
                name = try RDMADevice.all().first { !settings.excludedDevices.contains($0.name) }?.name
                guard name != nil else {
                    throw PluginSettingsError("NCCL_IB_HCA excludes every RDMA device; set FABRICAUTH_DEVICE")
                }
            }
            let device = try Context(deviceName: name)
            context = device
            let attributes = try device.queryDevice()
            guid = attributes.nodeGUID
            maxComms = Int32(clamping: attributes.maxQueuePairs)
            let gid: GidEntry
            if let index = settings.gidIndex {
                guard let entry = try device.gidEntry(index: index) else {
                    throw PluginSettingsError("GID index \(index) of \(device.deviceName) is empty; "
                        + "set FABRICAUTH_GID_INDEX to one `fabricauth doctor` lists")
                }
                gid = entry
            } else {
                gid = try device.defaultGid()
            }
            if let address = settings.listenAddress {
                listenAddress = address
            } else if let ipv4 = gid.gid.ipv4 {
                listenAddress = ipv4
            } else {
                throw PluginSettingsError("GID \(gid.index) of \(device.deviceName) has no IPv4 address; "
                    + "set FABRICAUTH_LISTEN_ADDRESS to the address other ranks reach this host at")
            }
        } catch let error as PluginSettingsError {
            throw error
        } catch {
            throw PluginSettingsError("RDMA device: \(error); set FABRICAUTH_DEVICE and FABRICAUTH_GID_INDEX "
                + "(or NCCL_IB_HCA, NCCL_IB_GID_INDEX) to a device and GID `fabricauth doctor` lists")
        }

        var c = Self.channelConfiguration(ChannelConfiguration(sources: sources))
        ReloadWatcher.shared.startPolling(every: .seconds(settings.reloadIntervalSeconds))
        c.gidIndex = settings.gidIndex
        c.setupTimeout = .seconds(settings.setupTimeoutSeconds)
        // The channel's per-connection set-up lines go to TRACE, so NCCL_DEBUG=INFO names
        // each peer once (PluginPeerLog) and refusals are the plug-in's own WARN lines with
        // their reason; its other lines (alarms, closes) stay at INFO.
        c.log = { line in PluginPeerLog.channelLine(line) }
        c.quarantine = try PluginIsolation.quarantine(file: settings.quarantineFilePath)
        if let path = settings.metricsFilePath {
            MetricsRegistry.shared.instrument(&c)
            PluginMetrics.start(path: path, interval: .seconds(settings.metricsIntervalSeconds))
        }
        if let path = settings.auditLogPath {
            c.audit = try PluginAudit.open(path: path, maxBytes: settings.auditLogMaxBytes, keep: settings.auditLogKeep)
        }
        configuration = c

        deviceNameC = Self.intern(context.deviceName)!
        // realpath fails for virtual devices (rxe): NULL tells NCCL the NIC has no PCI path.
        if let resolved = realpath("/sys/class/infiniband/\(context.deviceName)/device", nil) {
            pciPathC = Self.intern(String(cString: resolved))
            free(resolved)
        } else {
            pciPathC = nil
        }
        speedMbps = Self.portSpeedMbps(device: context.deviceName)
        macWorkers = settings.macThreads > 0 ? try MACWorkerPool(threads: settings.macThreads) : nil
    }

    /// The channel sizes of every comm: NCCL's 32 outstanding requests, each
    /// possibly a grouped receive of 8 buffers, and slots for control
    /// messages only (data moves by WRITE, never by SEND), so the 514 receive
    /// slots those requests need take 64 KiB instead of 514 x 24 KiB.
    static func channelConfiguration(_ base: ChannelConfiguration) -> ChannelConfiguration {
        var c = base
        c.remoteAccessDepth = maxRequests
        c.writeTargetWindows = windowsPerComm
        c.receiveDepth = c.minimumReceiveDepth
        // Grants (up to 8 per irecv) and WRITE notices, each in a send slot
        // until its SEND completes; more wait for a completion.
        c.sendDepth = 2 * maxRequests
        // No application SEND: slots are sized for the largest control message.
        c.maxMessageSize = 0
        return c
    }

    private static let interned = Mutex<[String: UnsafeMutablePointer<CChar>]>([:])

    /// A C copy of `text` that is never freed (one per distinct string).
    static func intern(_ text: String) -> UnsafeMutablePointer<CChar>? {
        interned.withLock { table in
            if let p = table[text] { return p }
            guard let p = strdup(text) else { return nil }
            table[text] = p
            return p
        }
    }

    /// The port's rate from sysfs ("100 Gb/sec (4X EDR)"); 10 Gb/s when unreadable (rxe reports one too).
    static func portSpeedMbps(device: String) -> Int32 {
        guard let data = FileManager.default.contents(atPath: "/sys/class/infiniband/\(device)/ports/1/rate"),
            let first = String(decoding: data, as: UTF8.self).split(separator: " ").first,
            let gbps = Double(first)
        else { return 10_000 }
        return Int32(gbps * 1000)
    }
}
