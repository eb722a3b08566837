#if canImport(Glibc)
import Glibc
#endif

/// Why a bench ended early. Every case reads as a sentence for the operator.
enum BenchError: Error, CustomStringConvertible {
    /// Ctrl-C on this side.
    case interrupted
    /// The peer said STOP (its Ctrl-C, or a failure it reports).
    case peerStopped(String)
    /// The peer's process or host went away.
    case peerGone(String)
    /// The peer reported an error (ERROR line).
    case peer(String)
    /// No progress within the stall limit.
    case stalled(String)
    /// Setting up (device, listener, connection) failed.
    case setup(String)
    /// A measurement this build cannot make (never replaced by another path's number).
    case unsupported(String)
    case protocolError(String)
    case system(String, Int32)

    var description: String {
        switch self {
        case .interrupted: "interrupted (Ctrl-C); the peer was told to stop"
        case .peerStopped(let reason): "the peer stopped the test: \(reason)"
        case .peerGone(let why): why
        case .peer(let text): "the peer reported: \(text)"
        case .stalled(let why): "\(why); is the peer still there?"
        case .setup(let why): why
        case .unsupported(let why): why
        case .protocolError(let why): "control protocol: \(why)"
        case .system(let call, let err): "\(call): \(String(cString: strerror(err)))"
        }
    }

    /// Exit status: 130 after Ctrl-C (the shell's convention for SIGINT).
    var exitCode: Int32 {
        if case .interrupted = self { return 130 }
        return 1
    }
}
