import CNCCLNet
import FabricAuth

/// NCCL's result codes the plug-in returns (err.h). Failures of the network
/// or the peer (a refused handshake, a forged message, a dead QP) are
/// `ncclSystemError`; misuse of the API by the caller is `ncclInternalError`,
/// as NCCL's own IB transport reports them.
enum PluginResult: Int32 {
    case success = 0
    case systemError = 2
    case internalError = 3
}

extension ChannelError {
    var pluginResult: PluginResult {
        switch self {
        case .invalidRequest, .receiveBufferTooSmall, .tooManyOutstanding, .invalidConfiguration: .internalError
        default: .systemError
        }
    }

    /// Whether isend/irecv answer NCCL with a NULL request and success
    /// rather than an error: NCCL's net.h lets them "return a NULL request"
    /// when the call can't start now, and NCCL calls again. Only a full
    /// request table is such a case; everything else fails the call.
    var asksNCCLToRetry: Bool {
        if case .tooManyOutstanding = self { true } else { false }
    }
}

/// Logging through NCCL's logger (set by init; stderr for warnings before it).
enum PluginLog {
    static func info(_ message: String) {
        fabricauth_nccl_log(NCCL_LOG_INFO, FABRICAUTH_NCCL_NET, message)
    }

    /// Lines NCCL shows only with NCCL_DEBUG=TRACE: per-connection detail
    /// that repeats for each of NCCL's channels x peers connections.
    static func trace(_ message: String) {
        fabricauth_nccl_log(NCCL_LOG_TRACE, FABRICAUTH_NCCL_NET, message)
    }

    static func warn(_ message: String) {
        fabricauth_nccl_log(NCCL_LOG_WARN, FABRICAUTH_NCCL_NET | FABRICAUTH_NCCL_INIT, message)
    }

    /// Logs `message` as a warning and returns `result`, for the entry points' failure paths.
    static func fail(_ result: PluginResult, _ message: String) -> Int32 {
        warn(message)
        return result.rawValue
    }
}
