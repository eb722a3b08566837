/// Which QP state transitions exist and which attributes each needs
/// (IB spec 10.3.1 and table 91 "QP State Transition Properties"; the same
/// table as man 3 ibv_modify_qp in rdma-core 44). Used to refuse a bad
/// `ibv_modify_qp` before the kernel answers a bare EINVAL, and to explain
/// one after.
public enum QueuePairTransition {
    public enum Diagnosis: Equatable, Sendable, CustomStringConvertible {
        case valid
        case notAllowed(from: QueuePairState, to: QueuePairState)
        case missingAttributes(QueuePairAttributeMask, from: QueuePairState, to: QueuePairState)
        case unexpectedAttributes(QueuePairAttributeMask, from: QueuePairState, to: QueuePairState)

        public var description: String {
            switch self {
            case .valid: "valid"
            case let .notAllowed(f, t): "the transition \(f) -> \(t) does not exist (IB spec 10.3.1)"
            case let .missingAttributes(m, f, t): "\(f) -> \(t) requires \(m)"
            case let .unexpectedAttributes(m, f, t): "\(f) -> \(t) does not accept \(m)"
            }
        }
    }

    /// Required and optional attributes of `from -> to` for `transport`, or nil if no such transition.
    public static func attributes(
        from: QueuePairState, to: QueuePairState, transport: QueuePairTransport
    ) -> (required: QueuePairAttributeMask, optional: QueuePairAttributeMask)? {
        let rc = transport == .reliableConnection
        switch (from, to) {
        case (_, .reset), (_, .error):
            return ([.state], [])
        case (.reset, .initialized):
            return rc ? ([.state, .pkeyIndex, .port, .accessFlags], [])
                : ([.state, .pkeyIndex, .port, .qkey], [])
        case (.initialized, .initialized):
            return ([], rc ? [.pkeyIndex, .port, .accessFlags] : [.pkeyIndex, .port, .qkey])
        case (.initialized, .readyToReceive):
            return rc
                ? ([.state, .addressVector, .pathMTU, .destinationQPN, .receivePSN, .maxResponderReadAtomic, .minRNRTimer],
                    [.accessFlags, .pkeyIndex])
                : ([.state], [.pkeyIndex, .qkey])
        case (.readyToReceive, .readyToSend):
            return rc
                ? ([.state, .sendPSN, .timeout, .retryCount, .rnrRetry, .maxInitiatorReadAtomic], [.accessFlags, .minRNRTimer])
                : ([.state, .sendPSN], [.qkey])
        case (.readyToSend, .readyToSend), (.sendQueueDrain, .readyToSend), (.sendQueueError, .readyToSend):
            return ([], rc ? [.accessFlags, .minRNRTimer] : [.qkey])
        case (.readyToSend, .sendQueueDrain):
            return ([.state], [])
        default:
            return nil
        }
    }

    /// Diagnoses an attempted `ibv_modify_qp(from -> to, mask)`.
    public static func diagnose(
        from: QueuePairState, to: QueuePairState, transport: QueuePairTransport, mask: QueuePairAttributeMask
    ) -> Diagnosis {
        guard let (required, optional) = attributes(from: from, to: to, transport: transport) else {
            return .notAllowed(from: from, to: to)
        }
        let missing = required.subtracting(mask)
        if !missing.isEmpty { return .missingAttributes(missing, from: from, to: to) }
        let extra = mask.subtracting(required).subtracting(optional).subtracting(.state)
        if !extra.isEmpty { return .unexpectedAttributes(extra, from: from, to: to) }
        return .valid
    }
}
