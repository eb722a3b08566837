import Handshake
import Synchronization

/// Resumable sessions, so later QPs between the same two processes skip
/// certificates and Diffie-Hellman (NCCL opens channels × peers QPs per pair
/// of endpoints). The resumption secret lives here and nowhere else: a
/// channel does not keep it, and a handshake's result hands over a copy that
/// is wiped once the cache has its own.
///
/// Each side keeps the sessions of its own role, the only ones the handshake
/// lets it resume (a session reflected to its owner is refused with
/// `.sessionRoleMismatch`, docs/protocol.md section 6):
/// - a listener keeps those of handshakes it answered, found by the session
///   ID a client's R1 names (``AuthenticatedListener`` makes its own);
/// - a client keeps those of handshakes it started, one per listener it
///   connected to (`host:port`), so its next channel there resumes; pass one
///   to ``AuthenticatedConnector/connect(context:host:port:configuration:sessions:)``.
///
/// Bounded: the oldest session is evicted, and its secret wiped, when full.
/// Entries past their notAfter are not offered for resumption and are
/// refused by the handshake itself; revocation is rechecked by the
/// handshake's verifier on every resumption.
public final class SessionCache: Sendable {
    private struct State {
        var sessions: [[UInt8]: ResumableSession] = [:]
        var order: [[UInt8]] = []
        var byDestination: [String: [UInt8]] = [:]
    }

    public let capacity: Int
    private let state = Mutex(State())
    /// Serialises concurrent first connections per destination (client side).
    let firstContacts = FirstContactGate()

    public init(capacity: Int = 1024) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Keeps `session` (the cache owns it from now on); a client names the
    /// listener it belongs to.
    func insert(_ session: ResumableSession, destination: String? = nil) {
        precondition((session.role == .initiator) == (destination != nil),
            "a client's session is kept by destination, a listener's by ID")
        state.withLock { s in
            if s.sessions[session.sessionID] == nil { s.order.append(session.sessionID) }
            s.sessions[session.sessionID] = session
            if let destination {
                if let old = s.byDestination[destination], old != session.sessionID { Self.remove(old, from: &s) }
                s.byDestination[destination] = session.sessionID
            }
            while s.order.count > capacity { Self.remove(s.order[0], from: &s) }
        }
    }

    /// The listener's lookup of the session an R1 names.
    func lookup(_ id: [UInt8]) -> ResumableSession? {
        state.withLock { s in s.sessions[id].flatMap { $0.role == .responder ? $0 : nil } }
    }

    /// A client's session with the listener at `destination`, unless expired at `now`.
    func session(for destination: String, now: Timestamp) -> ResumableSession? {
        state.withLock { s in
            guard let id = s.byDestination[destination], let session = s.sessions[id] else { return nil }
            guard now < session.notAfter else {
                Self.remove(id, from: &s)
                return nil
            }
            return session
        }
    }

    /// Whether a client's session with `destination` is kept and not expired at `now`.
    func hasSession(for destination: String, now: Timestamp) -> Bool {
        session(for: destination, now: now) != nil
    }

    /// Forgets (and wipes) the session with `destination`, e.g. after the
    /// listener refused to resume it, so the next channel runs a full handshake.
    func forget(destination: String) {
        state.withLock { s in if let id = s.byDestination[destination] { Self.remove(id, from: &s) } }
    }

    /// Forgets (and wipes) every session whose peer `stillPasses` refuses:
    /// after a trust change, a revoked, untrusted, expired or no longer
    /// allowed peer cannot resume the session it had. Returns how many went.
    @discardableResult
    public func purge(keeping stillPasses: (any VerifiedPeer) -> Bool) -> Int {
        state.withLock { s in
            let gone = s.sessions.filter { !stillPasses($0.value.peer) }.map(\.key)
            for id in gone { Self.remove(id, from: &s) }
            return gone.count
        }
    }

    /// Sessions kept now.
    public var count: Int { state.withLock { $0.sessions.count } }

    private static func remove(_ id: [UInt8], from s: inout State) {
        s.sessions[id]?.wipe()
        s.sessions[id] = nil
        s.order.removeAll { $0 == id }
        for (destination, held) in s.byDestination where held == id { s.byDestination[destination] = nil }
    }
}
