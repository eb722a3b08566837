/// What a receiver does after rejecting a frame. A rejected frame is never
/// delivered and always counted; the policy only decides whether the session
/// (and hence the QP) survives it.
public enum FailurePolicy: Sendable, Equatable {
    /// Default: the first rejection closes the receiver; every later open
    /// answers `.sessionClosed`. The caller tears the QP down.
    case fatal
    /// Drop the frame, count it, keep going (useful on UD or lossy paths).
    case dropAndCount
}
