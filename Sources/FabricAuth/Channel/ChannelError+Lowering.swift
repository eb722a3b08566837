import Bootstrap
import Handshake
import Verbs

/// The one place where failures of the layers below the channel become
/// `ChannelError`, each kept whole under its own case, so a caller sees one
/// failure exactly once and can still switch on the lower layer's code. The
/// rendezvous machine's refusals of an application call come through here
/// too (`ChannelError(refusal:)`).
extension ChannelError {
    /// A setup sequence calls several layers in one `do` block, and Swift
    /// types such a block's error as `any Error`; this recovers the layer.
    /// Setup code calls only typed-throwing layers, so the last case means a
    /// new layer was added without a case here: debug builds trap to say so,
    /// release builds still fail the setup rather than the process.
    init(lowering error: any Error) {
        switch error {
        case let e as ChannelError: self = e
        case let e as VerbsError: self = .verbs(e)
        case let e as BootstrapError: self = .bootstrap(e)
        case let e as HandshakeError: self = .handshake(e)
        case let e as DataPathError: self = .dataPath(e)
        case let e as RendezvousRefusal: self = ChannelError(refusal: e)
        default:
            assertionFailure("no ChannelError case for \(type(of: error)): \(error)")
            self = .protocolViolation("unexpected \(type(of: error)): \(error)")
        }
    }

    /// One call of a lower layer, its error lowered by ``init(lowering:)``:
    /// the single-call form of what the set-up entry points do for a whole
    /// sequence, so no call site writes its own catch-and-rethrow. Inlined
    /// and generic over the call's own error type: the data path pays
    /// nothing (no allocation, no existential) unless the call throws.
    @inline(__always)
    static func lowering<T: ~Copyable, E: Error>(_ call: () throws(E) -> T) throws(ChannelError) -> T {
        do { return try call() } catch { throw ChannelError(lowering: error) }
    }
}
