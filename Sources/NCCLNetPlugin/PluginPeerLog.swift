import FabricAuth
import Handshake
import Synchronization

/// What the plug-in tells NCCL's log about peers: each verified peer once,
/// every refusal with its reason.
///
/// NCCL opens channels x peers connections between the same two processes
/// (often dozens), so a line per connection would bury the one fact an
/// operator looks for, who this rank talks to. The first verified connection
/// to a SPIFFE ID is logged at INFO; later ones, and the channel's own lines
/// about each set-up (`channelLine`), at TRACE (shown by NCCL_DEBUG=TRACE
/// only). Refusals are WARN lines, one per refused connection, each naming
/// its reason in a fixed phrase (`reason(of:)`) before the full error.
enum PluginPeerLog {
    /// SPIFFE IDs announced by this process. The library stays mapped across
    /// NCCL's dlclose/dlopen (-z nodelete), so this lasts as long as the process.
    private static let announced = Mutex<Set<String>>([])

    /// Logs a verified connection: INFO the first time `peer` is seen, TRACE
    /// after; true when this was the first.
    @discardableResult
    static func verified(peer: String, _ detail: String) -> Bool {
        let first = announced.withLock { $0.insert(peer).inserted }
        let line = "peer \(peer) verified; \(detail)"
        if first { PluginLog.info(line) } else { PluginLog.trace(line) }
        return first
    }

    /// A line from the channel layer (ChannelConfiguration.log). The lines
    /// every connection's set-up writes, accepted or refused, go to TRACE:
    /// "authenticated <peer> on QP n", the verifier's "certificate chain
    /// verified" / "peer rejected: ...", the policy's "allow: ..." /
    /// "deny: ...", and "handshake on QP n failed" (the plug-in's own lines
    /// carry the peer and the refusal's reason). Everything else the channel
    /// reports (forged frames, fabric alarms, channels closed on a trust
    /// change, quarantines) stays at INFO.
    static func channelLine(_ line: String) {
        if isPerConnectionSetup(line) { PluginLog.trace(line) } else { PluginLog.info(line) }
    }

    static func isPerConnectionSetup(_ line: String) -> Bool {
        line.hasPrefix("authenticated ") || line.hasPrefix("handshake on QP ") || line.hasPrefix("peer rejected: ")
            || (line.hasPrefix("peer ") && (line.hasSuffix(": certificate chain verified")
                || line.contains(": allow: ") || line.contains(": deny: ")))
    }

    /// Logs a refused connect or accept (`what`: "connect to HOST:PORT",
    /// "accept on port N") with its reason, and returns ncclSystemError: the
    /// network or the peer failed, and NCCL gets no comm, so nothing moves.
    static func refused(_ what: String, _ error: ChannelError) -> Int32 {
        PluginLog.fail(.systemError, "\(what) refused: \(reason(of: error)); \(error)")
    }

    /// The reason for a refused connection, in words an operator acts on.
    /// Which side names which reason: the rank that verifies a bad
    /// certificate says what is wrong with it (expired, revoked, another CA);
    /// the rank holding it only learns that its peer refused it (the alert
    /// carries a code, not the verifier's detail).
    static func reason(of error: ChannelError) -> String {
        switch error {
        case .handshake(let e): reason(of: e)
        case .bootstrap: "endpoint exchange failed"
        case .timedOut: "setup timed out"
        case .peerQuarantined: "peer quarantined"
        case .peerNoLongerValid(let why): "peer no longer valid (\(why))"
        case .verbs: "RDMA error"
        default: "setup failed"
        }
    }

    static func reason(of error: HandshakeError) -> String {
        switch error.code {
        case .peerRejected:
            switch error.rejection?.reason {
            case .expired?: "peer certificate expired"
            case .notYetValid?: "peer certificate not yet valid"
            case .revoked?: "peer certificate revoked"
            case .untrustedIssuer?: "peer certificate not issued by a CA in FABRICAUTH_BUNDLE"
            case .malformed?: "peer certificate chain malformed"
            case .other?, nil: "peer certificate rejected"
            }
        case .policyDenied: "policy denies peer"
        case .quarantined: "peer quarantined"
        case .peerRevoked, .sessionExpired: "peer no longer valid"
        case .peerAborted:
            switch error.remoteCode {
            case .peerRejected?: "peer refused this rank's certificate"
            case .policyDenied?: "peer's policy denies this rank"
            case .quarantined?: "peer has quarantined this rank"
            case let code?: "peer aborted the handshake (\(code))"
            case nil: "peer aborted the handshake"
            }
        case .timeout: "handshake timed out"
        case .localCredentialFailure: "this rank's credential failed"
        default: "handshake failed (\(error.code))"
        }
    }
}
