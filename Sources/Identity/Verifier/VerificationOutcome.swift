/// The verifier's answer: a verified identity, or the reason it was rejected.
/// "Not trusted" is an expected outcome, so it is a value, not a thrown error.
public enum VerificationOutcome: Sendable, Hashable {
    case verified(WorkloadIdentity)
    case rejected(Rejection)

    /// The identity, if verified.
    public var identity: WorkloadIdentity? {
        if case .verified(let identity) = self { return identity }
        return nil
    }

    /// The rejection, if rejected.
    public var rejection: Rejection? {
        if case .rejected(let rejection) = self { return rejection }
        return nil
    }
}
