/// One entry of the audit trail (docs/operations.md, "Audit log"; schema in
/// docs/audit-schema.json). Each case is one value of the line's `event`
/// field; its payload's properties become the line's other fields, in
/// snake_case (`peerCertSHA256` is `peer_cert_sha256`). Optional properties
/// that are nil are left out of the line.
///
/// Events are made where a decision is taken (set-up, close, rekey, the
/// receive pipeline's rejections) and handed to an ``AuditLog``, which writes
/// them on a thread of its own; reloads and quarantines reach a log that
/// subscribed to them (``AuditLog/recordReloads()``,
/// ``AuditLog/recordQuarantines(of:)``).
public enum AuditEvent: Sendable {
    /// A handshake ended: keys for a channel, or a refusal with its reason.
    case handshake(Handshake)
    /// A channel closed (its QP moved to ERROR), with why.
    case channelClosed(ChannelClosed)
    /// A channel's key epoch changed: this side rekeyed, or the peer's next epoch was promoted.
    case epochChange(EpochChange)
    /// A channel's peer proved its identity again in-band (re-authentication).
    case reauthentication(Reauthentication)
    /// Frames a channel refused before delivery, aggregated: at most one event
    /// per channel per ``AuditLog/rejectionInterval``, with counts by reason.
    case rejectedFrames(RejectedFrames)
    /// Connections a listener refused before any handshake (screening), aggregated as rejected frames are.
    case listenerRefused(ListenerRefused)
    /// Credentials, trust bundle, revocations, policy or quarantine list read again.
    case reload(Reload)
    /// A peer's SPIFFE ID was put in quarantine, or taken out.
    case quarantine(Quarantine)
    /// Frames that an on-fabric injector can forge (bad tags, replays) reached a channel.
    case fabricUnderAttack(FabricUnderAttack)
    /// The audit queue was full and events were dropped; written once there is room again.
    case eventsDropped(EventsDropped)

    /// The value of the line's `event` field.
    public var name: String {
        switch self {
        case .handshake: "handshake"
        case .channelClosed: "channel_closed"
        case .epochChange: "epoch_change"
        case .reauthentication: "reauthentication"
        case .rejectedFrames: "rejected_frames"
        case .listenerRefused: "listener_refused"
        case .reload: "reload"
        case .quarantine: "quarantine"
        case .fabricUnderAttack: "fabric_under_attack"
        case .eventsDropped: "events_dropped"
        }
    }

    /// Every event name, in the order of the cases (the schema lists the same).
    public static let names = ["handshake", "channel_closed", "epoch_change", "reauthentication", "rejected_frames",
        "listener_refused", "reload", "quarantine", "fabric_under_attack", "events_dropped"]
}

extension AuditEvent {
    /// One end of a queue pair as the handshake binds it.
    public struct Endpoint: Sendable, Encodable, Equatable {
        /// The SPIFFE ID: our certificate's, or the peer's once its chain verified (absent before).
        public var spiffeID: String?
        /// SHA-256 of the leaf certificate's DER, lowercase hex: the one presented, even when it was refused.
        public var certSHA256: String?
        public var qpn: UInt32
        /// The port GID in IPv6 text (`::ffff:192.0.2.1` for RoCE v2 over IPv4).
        public var gid: String
        /// The initial packet sequence number.
        public var psn: UInt32

        public init(spiffeID: String?, certSHA256: String?, qpn: UInt32, gid: String, psn: UInt32) {
            self.spiffeID = spiffeID
            self.certSHA256 = certSHA256
            self.qpn = qpn
            self.gid = gid
            self.psn = psn
        }
    }

    /// Which channel an event is about: both identities and both queue pairs.
    public struct Channel: Sendable, Encodable, Equatable {
        public var localID: String
        public var peerID: String
        public var peerCertSHA256: String
        public var localQPN: UInt32
        public var localGID: String
        public var peerQPN: UInt32
        public var peerGID: String

        public init(localID: String, peerID: String, peerCertSHA256: String, localQPN: UInt32, localGID: String,
                    peerQPN: UInt32, peerGID: String) {
            self.localID = localID
            self.peerID = peerID
            self.peerCertSHA256 = peerCertSHA256
            self.localQPN = localQPN
            self.localGID = localGID
            self.peerQPN = peerQPN
            self.peerGID = peerGID
        }
    }

    /// The policy decision a handshake or re-authentication made.
    public struct PolicyDecision: Sendable, Encodable, Equatable {
        public enum Effect: String, Sendable, Encodable { case allow, deny }
        public var decision: Effect
        /// The rule's name, or `default deny`.
        public var rule: String
        /// The policy file's `version` (absent for the line format and policies built in code).
        public var version: String?
        /// SHA-256 of the policy file, lowercase hex (absent for policies built in code).
        public var sha256: String?

        public init(decision: Effect, rule: String, version: String?, sha256: String?) {
            self.decision = decision
            self.rule = rule
            self.version = version
            self.sha256 = sha256
        }
    }

    public enum Outcome: String, Sendable, Encodable { case accepted, refused }

    public struct Handshake: Sendable, Encodable {
        public enum Role: String, Sendable, Encodable { case initiator, responder }
        public enum Mode: String, Sendable, Encodable { case full, resumed }
        public enum Transport: String, Sendable, Encodable {
            /// QP endpoints swapped over TCP (AuthenticatedConnector/Listener).
            case tcp
            /// librdmacm connect/accept (AuthenticatedCMConnection/Listener).
            case rdmaCM = "rdma_cm"
        }
        public var outcome: Outcome
        public var role: Role
        public var mode: Mode
        public var transport: Transport
        public var local: Endpoint
        public var peer: Endpoint
        /// The negotiated data MAC (accepted handshakes).
        public var suite: String?
        /// Absent when the handshake ended before the policy was asked (a bad chain, a timeout).
        public var policy: PolicyDecision?
        /// Refused: the reason this side detected, snake_case (`policy_denied`, `peer_rejected`, `timeout`, ...).
        public var reason: String?
        /// Refused: the human detail of the reason.
        public var detail: String?
        /// Refused because the peer sent an alert: the reason it gave.
        public var peerReason: String?
        /// From the start of the in-band handshake to keys or refusal.
        public var durationMS: Double

        public init(outcome: Outcome, role: Role, mode: Mode, transport: Transport, local: Endpoint, peer: Endpoint,
                    suite: String? = nil, policy: PolicyDecision? = nil, reason: String? = nil, detail: String? = nil,
                    peerReason: String? = nil, durationMS: Double) {
            self.outcome = outcome
            self.role = role
            self.mode = mode
            self.transport = transport
            self.local = local
            self.peer = peer
            self.suite = suite
            self.policy = policy
            self.reason = reason
            self.detail = detail
            self.peerReason = peerReason
            self.durationMS = durationMS
        }
    }

    public struct ChannelClosed: Sendable, Encodable {
        public enum Reason: String, Sendable, Encodable {
            /// `close()` was called.
            case application
            /// The channel was released without `close()`.
            case released
            /// A frame failed verification under the fatal failure policy.
            case rejectedFrame = "rejected_frame"
            /// An authentic control message broke the WRITE/READ protocol.
            case protocolViolation = "protocol_violation"
            /// The peer's certificate was revoked, expired or lost its CA.
            case peerNoLongerValid = "peer_no_longer_valid"
            /// A verbs call failed (a bind the device refused).
            case error
            /// The peer's SPIFFE ID was quarantined (`ChannelError.peerQuarantined`).
            case quarantined
            /// In-band re-authentication failed (issue 15; not emitted yet).
            case reauthenticationFailed = "reauthentication_failed"
        }
        public var channel: Channel
        public var reason: Reason
        public var detail: String?
        /// The QP state the device reported just before the close moved it to
        /// ERROR: `error` means the transport had already failed (the peer went away).
        public var qpState: String?
        public var messagesSealed: UInt64
        public var messagesOpened: UInt64
        public var framesRejected: UInt64
        /// Seconds from the end of the handshake to the close.
        public var openSeconds: Double

        public init(channel: Channel, reason: Reason, detail: String?, qpState: String?, messagesSealed: UInt64,
                    messagesOpened: UInt64, framesRejected: UInt64, openSeconds: Double) {
            self.channel = channel
            self.reason = reason
            self.detail = detail
            self.qpState = qpState
            self.messagesSealed = messagesSealed
            self.messagesOpened = messagesOpened
            self.framesRejected = framesRejected
            self.openSeconds = openSeconds
        }
    }

    public struct EpochChange: Sendable, Encodable {
        public enum Direction: String, Sendable, Encodable {
            /// This side seals under a new epoch (its rekey).
            case send
            /// The peer's next epoch verified and was promoted.
            case receive
        }
        public var channel: Channel
        public var direction: Direction
        /// The new epoch.
        public var epoch: UInt32

        public init(channel: Channel, direction: Direction, epoch: UInt32) {
            self.channel = channel
            self.direction = direction
            self.epoch = epoch
        }
    }

    public struct Reauthentication: Sendable, Encodable {
        public var channel: Channel
        public var outcome: Outcome
        /// The epoch the re-authentication keyed (accepted).
        public var epoch: UInt32?
        /// The leaf the peer presented this time.
        public var peerCertSHA256: String?
        public var policy: PolicyDecision?
        public var reason: String?
        public var detail: String?

        public init(channel: Channel, outcome: Outcome, epoch: UInt32? = nil, peerCertSHA256: String? = nil,
                    policy: PolicyDecision? = nil, reason: String? = nil, detail: String? = nil) {
            self.channel = channel
            self.outcome = outcome
            self.epoch = epoch
            self.peerCertSHA256 = peerCertSHA256
            self.policy = policy
            self.reason = reason
            self.detail = detail
        }
    }

    /// Counts by reason over one window of at most ``AuditLog/rejectionInterval``.
    public struct RejectedFrames: Sendable, Encodable {
        public var channel: Channel
        /// Nonzero counts by `RejectReason`, snake_case (`bad_tag`, `replayed`, ...).
        public var counts: [String: UInt64]
        public var total: UInt64
        /// When the first and the last counted frame were refused (ISO 8601, ms).
        public var windowStart: String
        public var windowEnd: String
        /// `fatal` (the first one closed the channel) or `drop_and_count`.
        public var failurePolicy: String

        public init(channel: Channel, counts: [String: UInt64], total: UInt64, windowStart: String, windowEnd: String,
                    failurePolicy: String) {
            self.channel = channel
            self.counts = counts
            self.total = total
            self.windowStart = windowStart
            self.windowEnd = windowEnd
            self.failurePolicy = failurePolicy
        }
    }

    public struct ListenerRefused: Sendable, Encodable {
        public var transport: Handshake.Transport
        /// The listener's TCP or rdma_cm port.
        public var port: UInt16
        /// Counts by reason: a `BootstrapError` code in snake_case (TCP), or
        /// `too_many_pending`, `timed_out`, `failed` (rdma_cm).
        public var counts: [String: UInt64]
        public var total: UInt64
        public var windowStart: String
        public var windowEnd: String
        /// The address of the first connection refused in the window (TCP).
        public var firstPeer: String?

        public init(transport: Handshake.Transport, port: UInt16, counts: [String: UInt64], total: UInt64,
                    windowStart: String, windowEnd: String, firstPeer: String?) {
            self.transport = transport
            self.port = port
            self.counts = counts
            self.total = total
            self.windowStart = windowStart
            self.windowEnd = windowEnd
            self.firstPeer = firstPeer
        }
    }

    public struct Reload: Sendable, Encodable {
        public enum Source: String, Sendable, Encodable {
            case credential
            case trustBundle = "trust_bundle"
            case revocations
            case policy
            case quarantineList = "quarantine_list"
        }
        public enum Status: String, Sendable, Encodable {
            /// Read and swapped in.
            case loaded
            /// Checked; unchanged on disk, nothing swapped.
            case unchanged
            /// Refused; the previous content stays in force.
            case failed
        }
        public var source: Source
        public var path: String?
        public var outcome: Status
        public var error: String?
        /// A policy's `version`.
        public var version: String?
        /// SHA-256 of the content read, lowercase hex.
        public var sha256: String?

        public init(source: Source, path: String?, outcome: Status, error: String? = nil, version: String? = nil,
                    sha256: String? = nil) {
            self.source = source
            self.path = path
            self.outcome = outcome
            self.error = error
            self.version = version
            self.sha256 = sha256
        }
    }

    public struct Quarantine: Sendable, Encodable {
        public enum Action: String, Sendable, Encodable {
            case started
            case lifted
            case expired
        }
        public enum Origin: String, Sendable, Encodable {
            /// This process saw the peer break the protocol.
            case local
            /// An entry of the shared quarantine list file.
            case listFile = "list_file"
            /// An operator's command.
            case `operator`
        }
        public var action: Action
        public var peerID: String
        public var origin: Origin
        /// The cause, as `fabricauth_quarantine_events_total` labels it:
        /// `misbehaviour`, `denied_handshakes`, `list_file`, `manual`.
        public var reason: String?
        /// What the peer did, in the quarantine's own words (the list entry's comment).
        public var detail: String?
        /// When the quarantine ends (ISO 8601, ms).
        public var until: String?
        /// Started: the channels of the peer closed because of it (absent for a
        /// quarantine already in force when the log subscribed).
        public var channelsClosed: Int?

        public init(action: Action, peerID: String, origin: Origin, reason: String? = nil, detail: String? = nil,
                    until: String? = nil, channelsClosed: Int? = nil) {
            self.action = action
            self.peerID = peerID
            self.origin = origin
            self.reason = reason
            self.detail = detail
            self.until = until
            self.channelsClosed = channelsClosed
        }
    }

    public struct FabricUnderAttack: Sendable, Encodable {
        public var channel: Channel
        /// Counts by reason (`bad_tag`, `replayed`, ...).
        public var counts: [String: UInt64]
        public var total: UInt64
        public var windowStart: String
        public var windowEnd: String

        public init(channel: Channel, counts: [String: UInt64], total: UInt64, windowStart: String, windowEnd: String) {
            self.channel = channel
            self.counts = counts
            self.total = total
            self.windowStart = windowStart
            self.windowEnd = windowEnd
        }
    }

    public struct EventsDropped: Sendable, Encodable {
        /// Events dropped since the previous `events_dropped` line.
        public var dropped: UInt64
        /// Events dropped since the log was opened.
        public var droppedTotal: UInt64

        public init(dropped: UInt64, droppedTotal: UInt64) {
            self.dropped = dropped
            self.droppedTotal = droppedTotal
        }
    }
}
