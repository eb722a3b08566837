import Handshake
import Synchronization

/// The responder's cache of resumable sessions, keyed by session ID, so later
/// QPs from the same peer skip certificates and Diffie-Hellman (NCCL opens
/// channels × peers QPs per pair of endpoints).
///
/// Bounded: the oldest session is evicted (and its secret wiped) when full.
/// Entries past their notAfter are refused by the handshake itself; revocation
/// is rechecked by the handshake's verifier on every resumption. It holds only
/// sessions of full handshakes this side answered (role responder), the only
/// ones the handshake lets a responder resume; a session reflected to its
/// owner is refused with `.sessionRoleMismatch` (docs/protocol.md, section 6).
final class SessionCache: Sendable {
    private struct State {
        var sessions: [[UInt8]: ResumableSession] = [:]
        var order: [[UInt8]] = []
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 1024) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    func insert(_ session: ResumableSession) {
        precondition(session.role == .responder, "the listener caches only sessions it answered")
        state.withLock { s in
            if s.sessions[session.sessionID] == nil { s.order.append(session.sessionID) }
            s.sessions[session.sessionID] = session
            while s.order.count > capacity {
                let oldest = s.order.removeFirst()
                s.sessions[oldest]?.wipe()
                s.sessions[oldest] = nil
            }
        }
    }

    func lookup(_ id: [UInt8]) -> ResumableSession? {
        state.withLock { $0.sessions[id] }
    }

    var count: Int { state.withLock { $0.sessions.count } }
}
