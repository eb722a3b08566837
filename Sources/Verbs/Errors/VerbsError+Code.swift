extension VerbsError {
    /// An extensible error code: a struct over a private enum, so adding a case
    /// later is not a source-breaking change for callers that switch on codes
    /// (the pattern of swift-certificates' `CertificateError.ErrorCode`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Backing: String, Hashable, Sendable {
            case callFailed
            case deviceNotFound
            case portNotFound
            case gidNotFound
            case sendQueueFull
            case receiveQueueFull
            case completionFailed
            case invalidTransition
            case queuePairRetired
            case invalidArgument
            case timedOut
            case peerDisconnected
            case connectionRejected
            case unexpectedEvent
            case protocolViolation
            case addressResolution
        }

        let backing: Backing

        /// A C call failed; `function` and `errno` say which and why.
        public static let callFailed = Code(backing: .callFailed)
        /// No RDMA device with the requested name (or none at all).
        public static let deviceNotFound = Code(backing: .deviceNotFound)
        /// The device has no port with that number.
        public static let portNotFound = Code(backing: .portNotFound)
        /// No GID table entry matches the request.
        public static let gidNotFound = Code(backing: .gidNotFound)
        /// `ibv_post_send` refused: the send queue has no free slot (ENOMEM).
        public static let sendQueueFull = Code(backing: .sendQueueFull)
        /// `ibv_post_recv` refused: the receive queue has no free slot (ENOMEM).
        public static let receiveQueueFull = Code(backing: .receiveQueueFull)
        /// A work completion reported a status other than IBV_WC_SUCCESS.
        public static let completionFailed = Code(backing: .completionFailed)
        /// A QP state transition is not allowed or lacks attributes (IB spec 11.2.5.3).
        public static let invalidTransition = Code(backing: .invalidTransition)
        /// The QueuePair object was reset; use the PreparedQueuePair it returned.
        public static let queuePairRetired = Code(backing: .queuePairRetired)
        /// An argument the device cannot honour (too much inline data, too many SGEs).
        public static let invalidArgument = Code(backing: .invalidArgument)
        /// A bounded wait ran out of time.
        public static let timedOut = Code(backing: .timedOut)
        /// The peer closed the connection or disappeared.
        public static let peerDisconnected = Code(backing: .peerDisconnected)
        /// The peer rejected a connection request.
        public static let connectionRejected = Code(backing: .connectionRejected)
        /// An rdma_cm event other than the one waited for arrived.
        public static let unexpectedEvent = Code(backing: .unexpectedEvent)
        /// A value from the device or the peer that the protocol does not allow
        /// (an unknown path MTU code). The TCP exchange has its own errors
        /// (`BootstrapError` in the Bootstrap module).
        public static let protocolViolation = Code(backing: .protocolViolation)
        /// rdma_cm address or route resolution failed.
        public static let addressResolution = Code(backing: .addressResolution)

        public var description: String { backing.rawValue }
    }
}
