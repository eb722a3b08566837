import Bootstrap
import Handshake
import Verbs

/// Why an authenticated queue pair could not be set up or stopped working.
public enum ChannelError: Error, Sendable, CustomStringConvertible {
    /// A verb failed (device, QP, completion, rdma_cm).
    case verbs(VerbsError)
    /// The TCP exchange of QP endpoints failed: the peer broke its framing,
    /// went silent, or a socket call failed.
    case bootstrap(BootstrapError)
    /// The handshake failed on this side or the peer said why it gave up.
    case handshake(HandshakeError)
    /// An in-band re-authentication of the live channel failed (docs/protocol.md
    /// section 14.6: the peer presented another identity, a certificate that
    /// no longer verifies, no answer in time, or it aborted with an alert);
    /// the channel has been closed.
    case reauthenticationFailed(HandshakeError)
    /// A received message failed verification and was not delivered; with
    /// the fatal failure policy the queue pair has been moved to ERROR.
    case rejected(RejectReason, tornDown: Bool)
    /// The data path refused to seal (payload too large, epochs used up).
    case dataPath(DataPathError)
    /// The peer's certificate was revoked, expired, or its CA left the trust
    /// bundle after the channel was set up; the channel has been closed.
    case peerNoLongerValid(String)
    /// The peer was quarantined (``PeerQuarantine``: misbehaviour on some
    /// channel of this process, too many denied handshakes, or the shared
    /// quarantine list); the channel has been closed. The text says why.
    case peerQuarantined(String)
    /// Nothing arrived before the deadline.
    case timedOut(String)
    /// The peer's exchange did not follow the protocol.
    case protocolViolation(String)
    /// The channel was closed by an earlier fatal error.
    case closed
    /// The request was cancelled (``AuthenticatedQueuePair/cancel(_:)``).
    case cancelled(String)
    /// The caller's request can't be carried out as given (the reason says
    /// why: a range outside the memory, memory of another channel, a request
    /// already completed).
    case invalidRequest(String)
    /// The peer's granted buffer is smaller than the message (NCCL's
    /// "message truncated").
    case receiveBufferTooSmall(needed: Int, available: Int)
    /// Every request (or window) of this kind is outstanding: `limit` of
    /// `what`, as configured by `ChannelConfiguration.remoteAccessDepth`.
    /// Nothing changed; `test` one to completion (or cancel it) and call
    /// again. NCCL's plug-in answers it with a NULL request, which NCCL retries.
    case tooManyOutstanding(what: String, limit: Int)
    /// The `ChannelConfiguration` can't make a working channel; the reason
    /// names the field and what it must be.
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .verbs(let e): "verbs: \(e)"
        case .bootstrap(let e): "bootstrap: \(e)"
        case .handshake(let e): "\(e)"
        case .reauthenticationFailed(let e): "re-authentication failed: \(e)"
        case .rejected(let r, let down): "message rejected (\(r))\(down ? "; queue pair torn down" : "; dropped")"
        case .dataPath(let e): "data path: \(e)"
        case .peerNoLongerValid(let why): "peer no longer valid, channel closed: \(why)"
        case .peerQuarantined(let why): "peer quarantined: \(why)"
        case .timedOut(let what): "timed out: \(what)"
        case .protocolViolation(let what): "protocol violation: \(what)"
        case .closed: "channel closed after an earlier fatal error"
        case .cancelled(let what): "\(what) was cancelled"
        case .invalidRequest(let why): "invalid request: \(why)"
        case .receiveBufferTooSmall(let needed, let available):
            "the peer's receive buffer holds \(available) bytes, the message has \(needed)"
        case .tooManyOutstanding(let what, let limit):
            limit == 0 ? "this channel has no \(what) (remoteAccessDepth 0)"
                : "all \(limit) \(what) are outstanding; test one to completion first"
        case .invalidConfiguration(let why): "invalid channel configuration: \(why)"
        }
    }
}
