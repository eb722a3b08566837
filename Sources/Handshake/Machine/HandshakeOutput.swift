/// What one step of the machine asks the caller to do.
public enum HandshakeOutput: Sendable {
    /// Send these bytes to the peer and wait for its answer.
    case send([UInt8])
    /// Send these bytes; this side is done and the data path may start (responder after
    /// M3, initiator after R2: the bytes are M4 or R3).
    case sendAndFinish([UInt8], HandshakeResult)
    /// Done, nothing to send (initiator after M4, responder after R3).
    case finished(HandshakeResult)
    /// Failed for good. Send `alert` (when non-nil) so the peer learns why, then drop the QP.
    case abort(HandshakeError, alert: [UInt8]?)

    /// Convenience for callers and tests.
    public var error: HandshakeError? {
        if case .abort(let e, _) = self { return e }
        return nil
    }

    public var result: HandshakeResult? {
        switch self {
        case .sendAndFinish(_, let r), .finished(let r): return r
        default: return nil
        }
    }

    public var message: [UInt8]? {
        switch self {
        case .send(let m), .sendAndFinish(let m, _): return m
        case .abort(_, let alert): return alert
        case .finished: return nil
        }
    }
}
