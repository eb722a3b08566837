import Bootstrap
import FabricAuth
import Foundation
import Handshake
import Identity
import Prometheus
import Synchronization

/// The process-wide view of FabricAuth in Prometheus' text format (0.0.4,
/// prometheus.io/docs/instrumenting/exposition_formats), emitted by
/// swift-prometheus 2.4.1's `PrometheusCollectorRegistry`.
///
/// Nothing here runs per message. Channels publish their own counters into a
/// `ChannelTelemetry` with relaxed atomic stores (FabricAuth,
/// Channel/ChannelTelemetry.swift); this registry keeps the open channels'
/// telemetry, folds a channel's final counters into a total when it closes
/// (so no counter ever goes backwards), and sums both at scrape time.
/// Handshake outcomes come from its `HandshakeCounters`, listener screening
/// from the `BootstrapMetrics` (TCP) and `CMListenerMetrics` (rdma_cm) it watches. Every metric is listed in
/// docs/operations.md, section Metrics.
public final class MetricsRegistry: ChannelObserver, Sendable {
    /// The registry of this process (the CLI's responders, the NCCL plug-in).
    public static let shared = MetricsRegistry()

    /// The HTTP Content-Type of the text format (exposition_formats, "Text-based format").
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Give this to every handshake (`instrument` does): outcomes by reason.
    public let handshakeCounters = HandshakeCounters()

    /// Upper bounds of the handshake duration histogram: a resumed handshake
    /// on rxe takes about a millisecond, a full one a few, a loaded VM more.
    public static let handshakeBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    private struct State {
        var open: [ObjectIdentifier: ChannelTelemetry] = [:]
        /// Final counters of every closed channel.
        var closedTotals = ChannelTelemetry.Snapshot()
        var channelsOpened: UInt64 = 0
        var channelsClosed: UInt64 = 0
        /// Channels closed by a trust recheck, by `ChannelTelemetry.trustClosureReasons` label.
        var closedByTrust: [String: UInt64] = [:]
        /// Every (suite, MAC engine) a channel has used, so its gauge reads 0 once none is open.
        var kinds: Set<ChannelKind> = []
        var listeners: [BootstrapMetrics] = []
        /// Counts of listeners gone (nobody else held their counters any more).
        var closedListeners = BootstrapMetrics.Snapshot()
        /// rdma_cm listeners' counts, and those of the ones gone.
        var cmListeners: [CMListenerMetrics] = []
        var closedCMListeners = CMListenerMetrics.Snapshot()
        /// Audit logs whose written, dropped and failed lines are exported.
        var audits: [AuditLog] = []
        /// Frames that raised a fabric alarm, by reason.
        var alarms = FailureCounts()
        /// The process's quarantine, if it has one (`watch(_:)`).
        var quarantine: PeerQuarantine?
    }

    private struct ChannelKind: Hashable {
        var suite: String
        var engine: String
    }

    private let state = Mutex(State())
    private let prometheus = PrometheusCollectorRegistry()
    private let fullHandshakes: DurationHistogram
    private let resumedHandshakes: DurationHistogram

    public init() {
        let duration = MetricNameDescriptor(namespace: "fabricauth", metricName: "handshake_duration", unitName: "seconds",
            helpText: "Time from the first handshake message on the connected queue pair to keys, by mode (full or resumed).")
        fullHandshakes = prometheus.makeDurationHistogram(descriptor: duration, labels: [("mode", "full")],
            buckets: Self.handshakeBuckets)
        resumedHandshakes = prometheus.makeDurationHistogram(descriptor: duration, labels: [("mode", "resumed")],
            buckets: Self.handshakeBuckets)
    }

    /// Makes channels set up with `configuration` report here: their
    /// handshakes count in `handshakeCounters`, their lives and counters in
    /// this registry.
    public func instrument(_ configuration: inout ChannelConfiguration) {
        configuration.handshakeCounters = handshakeCounters
        configuration.observer = self
    }

    /// Counts `metrics` (a listener's screening, `AuthenticatedListener.bootstrapCounters`)
    /// in `fabricauth_listener_*`; kept for the life of the registry, so its
    /// counts stay in the totals after the listener closes.
    public func watch(_ metrics: BootstrapMetrics) {
        state.withLock { s in
            if !s.listeners.contains(where: { $0 === metrics }) { s.listeners.append(metrics) }
        }
    }

    /// Counts an rdma_cm listener's requests (`AuthenticatedCMListener.metrics`) in
    /// `fabricauth_cm_listener_*`; kept as `watch(_: BootstrapMetrics)` keeps a TCP listener's.
    public func watch(_ metrics: CMListenerMetrics) {
        state.withLock { s in
            if !s.cmListeners.contains(where: { $0 === metrics }) { s.cmListeners.append(metrics) }
        }
    }

    /// Exports `log`'s counts as `fabricauth_audit_*` (lines written,
    /// events dropped because its queue was full, lines that failed to write).
    public func watch(_ log: AuditLog) {
        state.withLock { s in
            if !s.audits.contains(where: { $0 === log }) { s.audits.append(log) }
        }
    }

    /// Reports `quarantine` in `fabricauth_quarantined_peers` and
    /// `fabricauth_quarantine_events_total` (one quarantine per process).
    public func watch(_ quarantine: PeerQuarantine) {
        state.withLock { $0.quarantine = quarantine }
    }

    // MARK: ChannelObserver

    public func fabricAlarm(_ alarm: FabricAlarm) {
        state.withLock { $0.alarms[alarm.reason] &+= 1 }
    }

    public func channelOpened(_ telemetry: ChannelTelemetry) {
        state.withLock { s in
            s.open[ObjectIdentifier(telemetry)] = telemetry
            s.channelsOpened += 1
            s.kinds.insert(ChannelKind(suite: "\(telemetry.suite)", engine: telemetry.macEngine.rawValue))
        }
    }

    public func channelClosed(_ telemetry: ChannelTelemetry) {
        state.withLock { s in
            guard s.open.removeValue(forKey: ObjectIdentifier(telemetry)) != nil else { return }
            s.closedTotals.add(telemetry.snapshot())
            s.channelsClosed += 1
            if let reason = telemetry.trustClosureReason { s.closedByTrust[reason, default: 0] += 1 }
        }
    }

    public func handshakeCompleted(resumed: Bool, duration: Duration) {
        (resumed ? resumedHandshakes : fullHandshakes).record(duration)
    }

    // MARK: Exposition

    /// The exposition now, in the text format 0.0.4.
    public func exposition() -> String {
        String(decoding: expositionBytes(), as: UTF8.self)
    }

    /// The exposition now as UTF-8 bytes (what the HTTP endpoint and the textfile carry).
    public func expositionBytes() -> [UInt8] {
        // Collecting and emitting under one lock: two scrapes at once never
        // see a counter between its reset and its new value.
        state.withLock { s in
            collect(&s)
            return prometheus.emitToBuffer()
        }
    }

    /// Sets every aggregate metric from the channels, handshakes and listeners now.
    private func collect(_ s: inout State) {
        var traffic = s.closedTotals
        var active: [ChannelKind: Int64] = [:]
        for kind in s.kinds { active[kind] = 0 }
        for telemetry in s.open.values {
            traffic.add(telemetry.snapshot())
            active[ChannelKind(suite: "\(telemetry.suite)", engine: telemetry.macEngine.rawValue), default: 0] += 1
        }

        set(counter("channels_opened", "total", "Channels that completed their handshake."), s.channelsOpened)
        set(counter("channels_closed", "total", "Channels closed (by either side, a failure, or release)."), s.channelsClosed)
        let byTrust = descriptor("channels_closed_by_trust", "total",
            "Channels this side closed because their peer no longer passed a trust recheck, by reason "
                + "(expired, revoked, untrusted: CA left the bundle, policy).")
        for reason in ChannelTelemetry.trustClosureReasons {
            set(prometheus.makeCounter(descriptor: byTrust, labels: [("reason", reason)]), s.closedByTrust[reason] ?? 0)
        }
        let reloads = descriptor("reloads", "total",
            "Reloads of credential, bundle, policy and revocation files, by source and outcome (a failure kept the previous value).")
        for (source, counts) in ReloadWatcher.shared.countsByName() {
            set(prometheus.makeCounter(descriptor: reloads, labels: [("source", source), ("outcome", "success")]),
                UInt64(counts.succeeded))
            set(prometheus.makeCounter(descriptor: reloads, labels: [("source", source), ("outcome", "failure")]),
                UInt64(counts.failed))
        }
        let activeDescriptor = descriptor("channels_active", "",
            "Open channels, by negotiated suite and the library computing its MAC.")
        for (kind, n) in active {
            prometheus.makeGauge(descriptor: activeDescriptor, labels: [("suite", kind.suite), ("mac_engine", kind.engine)]).set(n)
        }
        prometheus.makeGauge(descriptor: descriptor("mac_engine", "info",
            "The AES-256-GMAC engine this process selected (FABRICAUTH_MAC_ENGINE or CPU detection); always 1."),
            labels: [("engine", MACEngine.selected.rawValue)]).set(Int64(1))

        set(counter("sealed_messages", "total", "Messages sealed (SEND frames, control messages, WRITE and READ data)."),
            traffic.messagesSealed)
        set(counter("sealed_payload_bytes", "total", "Payload bytes sealed."), traffic.bytesSealed)
        set(counter("opened_messages", "total", "Messages that verified and were delivered."), traffic.messagesOpened)
        set(counter("opened_payload_bytes", "total", "Payload bytes that verified and were delivered."), traffic.bytesOpened)
        let rekeys = descriptor("rekeys", "total", "Key epoch changes: send (this side rekeyed) or receive (the peer's next epoch).")
        set(prometheus.makeCounter(descriptor: rekeys, labels: [("direction", "send")]), traffic.rekeysSent)
        set(prometheus.makeCounter(descriptor: rekeys, labels: [("direction", "receive")]), traffic.rekeysReceived)
        let rejected = descriptor("frames_rejected", "total", "Frames refused before delivery, by reason; never delivered.")
        for reason in RejectReason.allCases {
            set(prometheus.makeCounter(descriptor: rejected, labels: [("reason", SnakeCase.name(reason))]),
                traffic.rejections[reason])
        }
        set(counter("protocol_violations", "total",
            "Authentic WRITE/READ control messages that broke the rendezvous protocol (the channel closed)."),
            traffic.protocolViolations)

        let handshakes = handshakeCounters.snapshot()
        let accepted = descriptor("handshakes_accepted", "total", "Handshakes that produced keys, by mode (full or resumed).")
        set(prometheus.makeCounter(descriptor: accepted, labels: [("mode", "full")]), handshakes.fullCompleted)
        set(prometheus.makeCounter(descriptor: accepted, labels: [("mode", "resumed")]), handshakes.resumedCompleted)
        let refused = descriptor("handshakes_refused", "total",
            "Handshakes that ended without keys, by the reason this side detected (a received alert: peer_aborted).")
        for code in HandshakeErrorCode.allCases {
            set(prometheus.makeCounter(descriptor: refused, labels: [("reason", SnakeCase.name(code))]), handshakes[code])
        }

        set(counter("reauthentications", "total",
            "In-band re-authentications of live channels that completed (either side started them); a failed one "
                + "counts in handshakes_refused by its reason and closes its channel."),
            handshakes.reauthenticationsCompleted)
        set(counter("reauthentication_collisions", "total",
            "Re-authentications both ends started at once, where this side's request lost the tie-break and was answered instead."),
            handshakes.reauthenticationCollisions)

        let alarms = descriptor("fabric_alarms", "total",
            "Frames that failed verification and so prove nothing about the peer (forgeable by an on-fabric injector), by reason: alarms, never quarantines.")
        for reason in RejectReason.allCases where reason.attribution == .fabricAlarm {
            set(prometheus.makeCounter(descriptor: alarms, labels: [("reason", SnakeCase.name(reason))]), s.alarms[reason])
        }
        if let quarantine = s.quarantine {
            prometheus.makeGauge(descriptor: descriptor("quarantined_peers", "",
                "Peers (SPIFFE IDs) quarantined now: by this process or by the shared quarantine list."),
                labels: []).set(Int64(quarantine.active(at: Date()).count))
            let events = descriptor("quarantine_events", "total", "Quarantines started, by cause.")
            let counts = quarantine.events
            for cause in PeerQuarantine.Cause.allCases {
                set(prometheus.makeCounter(descriptor: events, labels: [("cause", cause.rawValue)]), counts[cause] ?? 0)
            }
        }

        // A listener's counters that only this registry still holds can no
        // longer change: fold them into the total (a bench server makes a
        // listener per client).
        var i = 0
        while i < s.listeners.count {
            if isKnownUniquelyReferenced(&s.listeners[i]) {
                s.closedListeners.add(s.listeners.remove(at: i).snapshot())
            } else {
                i += 1
            }
        }
        var screening = s.closedListeners
        for listener in s.listeners { screening.add(listener.snapshot()) }
        let connections = screening.connectionsAccepted
        let handedOver = screening.clientsHandedOver
        var screened: [String: UInt64] = [:]
        for (code, n) in screening.refused { screened[SnakeCase.name(code), default: 0] += n }
        set(counter("listener_connections", "total", "TCP connections the listeners accepted, before screening."), connections)
        set(counter("listener_clients_handed_over", "total", "Connections whose first message passed the screening."),
            handedOver)
        let drops = descriptor("listener_refused", "total", "Connections the listeners' screening closed, by reason.")
        for (reason, n) in screened {
            set(prometheus.makeCounter(descriptor: drops, labels: [("reason", reason)]), n)
        }

        collectCMListeners(&s)

        var audit = AuditLog.Counters(written: 0, dropped: 0, writeErrors: 0)
        for log in s.audits {
            let c = log.counters
            audit.written += c.written
            audit.dropped += c.dropped
            audit.writeErrors += c.writeErrors
        }
        set(counter("audit_events_written", "total", "Audit log lines written."), audit.written)
        set(counter("audit_events_dropped", "total", "Audit events dropped because the audit queue was full (never blocks the data path)."),
            audit.dropped)
        set(counter("audit_write_errors", "total", "Audit log lines the destination failed to take (lost)."), audit.writeErrors)
    }

    /// The rdma_cm listeners' requests: received, refused before authentication by
    /// reason (the `listener_refused` audit event's reasons), authenticated.
    private func collectCMListeners(_ s: inout State) {
        var i = 0
        while i < s.cmListeners.count {
            if isKnownUniquelyReferenced(&s.cmListeners[i]) {
                s.closedCMListeners.add(s.cmListeners.remove(at: i).snapshot())
            } else {
                i += 1
            }
        }
        var cm = s.closedCMListeners
        for listener in s.cmListeners { cm.add(listener.snapshot()) }
        set(counter("cm_listener_requests", "total", "rdma_cm connect requests the listeners received, before authentication."),
            cm.requests)
        let refused = descriptor("cm_listener_refused", "total",
            "rdma_cm connections refused or torn down before authentication, by reason "
                + "(too_many_pending: rejected over the bound of unauthenticated connections; timed_out; failed).")
        for (reason, n) in [("too_many_pending", cm.rejectedOverBound), ("timed_out", cm.timedOut), ("failed", cm.failed)] {
            set(prometheus.makeCounter(descriptor: refused, labels: [("reason", reason)]), n)
        }
        set(counter("cm_listener_authenticated", "total", "rdma_cm connections that completed their handshake at a listener."),
            cm.authenticated)
    }

    private func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "fabricauth", metricName: name, unitName: unit, helpText: help)
    }

    private func counter(_ name: String, _ unit: String, _ help: String) -> Counter {
        prometheus.makeCounter(descriptor: descriptor(name, unit, help))
    }

    /// A counter whose value is the sum this registry computed: only this
    /// registry writes it, under its lock, just before emitting.
    private func set(_ counter: Counter, _ value: UInt64) {
        counter.reset()
        counter.increment(by: Int64(clamping: value))
    }
}

extension BootstrapMetrics.Snapshot {
    mutating func add(_ other: Self) {
        connectionsAccepted += other.connectionsAccepted
        clientsHandedOver += other.clientsHandedOver
        for (code, n) in other.refused { refused[code, default: 0] += n }
    }
}

extension CMListenerMetrics.Snapshot {
    mutating func add(_ other: Self) {
        requests += other.requests
        rejectedOverBound += other.rejectedOverBound
        timedOut += other.timedOut
        failed += other.failed
        authenticated += other.authenticated
    }
}
