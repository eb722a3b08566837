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
        case .invalidRequest, .receiveBufferTooSmall: .internalError
        default: .systemError
        }
    }
}

/// Logging through NCCL's logger (set by init; stderr for warnings before it).
enum PluginLog {
    static func info(_ message: String) {
        fabricauth_nccl_log(NCCL_LOG_INFO, FABRICAUTH_NCCL_NET, message)
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
