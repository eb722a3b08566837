/// Which way a frame travels on a queue pair. Each direction has its own
/// traffic secret from the handshake, and the direction is also the first
/// nonce byte and a header field, so a frame can never be reflected back.
public enum Direction: UInt8, Sendable, CaseIterable {
    case initiatorToResponder = 0
    case responderToInitiator = 1

    public var reversed: Direction {
        self == .initiatorToResponder ? .responderToInitiator : .initiatorToResponder
    }
}
