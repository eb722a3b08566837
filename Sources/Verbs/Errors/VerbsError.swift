#if canImport(Glibc)
import Glibc
#endif

/// The one error every failing verb throws.
///
/// Shaped like swift-certificates' `CertificateError`: a struct with an
/// extensible `code` (new codes never break `switch`es in callers), the C call
/// that failed, `errno` and its text, the completion status when the failure
/// was reported by a work completion, and where it was thrown. Environmental
/// failures (no device, a full send queue, a peer that disappeared) throw this;
/// programmer errors (EFAULT-class misuse) trap instead, as swift-nio's
/// `syscall` wrapper does.
public struct VerbsError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, independent of which call reported it.
    public var code: Code
    /// The C function that reported the failure (`ibv_modify_qp`,
    /// `rdma_resolve_addr`, ...), or a Swift-level step such as `tcp exchange`.
    public var function: String
    /// `errno` (or the errno-valued return code) of the failing call, if any.
    public var errno: Int32?
    /// `ibv_wc_status` of a failed work completion, if the error came from one.
    public var completionStatus: CompletionStatus?
    /// Free text with the details that make the error actionable.
    public var reason: String
    public var file: String
    public var line: UInt

    public init(
        _ code: Code, function: String, errno: Int32? = nil, completionStatus: CompletionStatus? = nil,
        reason: String = "", file: String = #fileID, line: UInt = #line
    ) {
        self.code = code
        self.function = function
        self.errno = errno
        self.completionStatus = completionStatus
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// `strerror(errno)`, e.g. "No such device".
    public var errnoText: String? {
        guard let errno else { return nil }
        return String(cString: strerror(errno))
    }

    public var description: String {
        var text = "VerbsError.\(code): \(function) failed"
        if let errno, let errnoText { text += ": \(errnoText) (errno \(errno))" }
        if let completionStatus { text += ": completion status \(completionStatus)" }
        if !reason.isEmpty { text += ": \(reason)" }
        text += " [\(file):\(line)]"
        return text
    }

    /// Equality and hashing look at what happened, not where it was thrown.
    public static func == (lhs: VerbsError, rhs: VerbsError) -> Bool {
        lhs.code == rhs.code && lhs.function == rhs.function && lhs.errno == rhs.errno
            && lhs.completionStatus == rhs.completionStatus
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(function)
        hasher.combine(errno)
        hasher.combine(completionStatus)
    }
}
