#if canImport(Glibc)
import Glibc
#endif

/// The one error the TCP bootstrap throws: a peer that broke the exchange's
/// framing, a deadline, or a socket call that failed.
///
/// Shaped like `VerbsError` (and swift-certificates' `CertificateError`): a
/// struct with an extensible `code`, the step that failed, `errno` when a
/// socket call reported one, free text, and where it was thrown. Every
/// connection the listener refuses before handing it over is refused with one
/// of these codes and counted under it (``BootstrapMetrics``).
public struct BootstrapError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, independent of which step reported it.
    public var code: Code
    /// The socket call (`connect`, `recv`, ...) or exchange step that failed.
    public var function: String
    /// `errno` of the failing socket call, if any.
    public var errno: Int32?
    /// Free text with the details that make the error actionable.
    public var reason: String
    /// Where it was thrown (`#fileID`, `#line`), for reports.
    public var file: String
    public var line: UInt

    /// An error with `code`, raised at `function`.
    public init(
        _ code: Code, function: String, errno: Int32? = nil, reason: String = "",
        file: String = #fileID, line: UInt = #line
    ) {
        self.code = code
        self.function = function
        self.errno = errno
        self.reason = reason
        self.file = file
        self.line = line
    }

    /// `strerror(errno)`, e.g. "Connection refused".
    public var errnoText: String? {
        guard let errno else { return nil }
        return String(cString: strerror(errno))
    }

    public var description: String {
        var text = "BootstrapError.\(code): \(function) failed"
        if let errno, let errnoText { text += ": \(errnoText) (errno \(errno))" }
        if !reason.isEmpty { text += ": \(reason)" }
        text += " [\(file):\(line)]"
        return text
    }

    /// Equality and hashing look at what happened, not where it was thrown.
    public static func == (lhs: BootstrapError, rhs: BootstrapError) -> Bool {
        lhs.code == rhs.code && lhs.function == rhs.function && lhs.errno == rhs.errno
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(function)
        hasher.combine(errno)
    }

    /// A failed socket call: `errno` decides between a peer that went away and
    /// a local failure, so callers can tell "the client hung up" from "out of
    /// descriptors".
    static func socket(_ function: String, errno err: Int32, reason: String = "", file: String = #fileID, line: UInt = #line)
        -> BootstrapError
    {
        let code: Code = switch err {
        case ECONNRESET, EPIPE: .connectionClosed
        case ECONNREFUSED: .connectionRefused
        default: .socketFailed
        }
        return BootstrapError(code, function: function, errno: err, reason: reason, file: file, line: line)
    }
}

extension BootstrapError {
    /// An extensible error code: a struct over a private enum, so adding a case
    /// later does not break callers that switch on codes (as `VerbsError.Code`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Backing: String, Hashable, Sendable, CaseIterable {
            case badMagic
            case truncated
            case oversized
            case malformedEndpoint
            case missingClientToken
            case timedOut
            case connectionClosed
            case connectionRefused
            case tooManyPending
            case barrierMismatch
            case invalidAddress
            case socketFailed
            case acceptTimedOut
        }

        let backing: Backing

        /// The first four bytes are not the exchange's magic: not a FabricAuth
        /// client (a scanner, another protocol, or an older fabricauth).
        public static let badMagic = Code(backing: .badMagic)
        /// The peer closed the connection, or let the deadline pass, in the
        /// middle of a message.
        public static let truncated = Code(backing: .truncated)
        /// The header announces a payload larger than `ExchangeMessage.maxPayload`.
        public static let oversized = Code(backing: .oversized)
        /// The endpoint field does not parse (QPN or PSN over 24 bits, unknown MTU, reserved byte set).
        public static let malformedEndpoint = Code(backing: .malformedEndpoint)
        /// A client's first message lacks the random token the listener requires.
        public static let missingClientToken = Code(backing: .missingClientToken)
        /// The peer sent nothing before the deadline.
        public static let timedOut = Code(backing: .timedOut)
        /// The peer closed the connection (or reset it) at a message boundary.
        public static let connectionClosed = Code(backing: .connectionClosed)
        /// Nobody listened at the address until the deadline.
        public static let connectionRefused = Code(backing: .connectionRefused)
        /// The listener already held its bound of connections that have not
        /// spoken yet; this one was closed at once.
        public static let tooManyPending = Code(backing: .tooManyPending)
        /// The second exchange of a setup (the barrier) did not repeat the first.
        public static let barrierMismatch = Code(backing: .barrierMismatch)
        /// The address is not a numeric IPv4 or IPv6 address.
        public static let invalidAddress = Code(backing: .invalidAddress)
        /// A socket call failed; `function` and `errno` say which and why.
        public static let socketFailed = Code(backing: .socketFailed)
        /// No client completed a first message before the listener's deadline
        /// (the listener's own wait, not a refusal of a connection).
        public static let acceptTimedOut = Code(backing: .acceptTimedOut)

        /// Every code, for metrics and tests that go through all of them.
        public static var all: [Code] { Backing.allCases.map { Code(backing: $0) } }

        public var description: String { backing.rawValue }
    }
}
