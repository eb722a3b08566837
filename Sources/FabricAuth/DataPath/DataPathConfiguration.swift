/// Tunable limits of one sender/receiver pair. Defaults come from
/// DataPathLimits; `validate()` keeps the same orderings the compile-time
/// checks enforce on the defaults (rekey < reject, reject <= 2^32, ...).
public struct DataPathConfiguration: Sendable {
    public var rekeyAfterMessages: UInt64 = DataPathLimits.rekeyAfterMessages
    public var rejectAfterMessages: UInt64 = DataPathLimits.rejectAfterMessages
    public var rekeyAfterNanoseconds: UInt64 = DataPathLimits.rekeyAfterNanoseconds
    public var previousEpochGraceNanoseconds: UInt64 = DataPathLimits.previousEpochGraceNanoseconds
    public var previousEpochGraceMessages: UInt64 = DataPathLimits.previousEpochGraceMessages
    public var maxEpoch: UInt32 = DataPathLimits.maxEpoch
    public var maxPayloadBytes: Int = DataPathLimits.maxPayloadBytes
    public var failurePolicy: FailurePolicy = .fatal
    /// The library computing AES-256-GMAC tags (ChaCha20-Poly1305 always uses
    /// libsodium). Both compute identical tags; the default is the process's
    /// choice from the CPU (MACEngine.selected). Tests set it to run the same
    /// checks on each engine.
    public var macEngine: MACEngine = .selected

    public init() {}

    public func validate() throws(DataPathError) {
        guard rekeyAfterMessages > 0 else { throw .invalidConfiguration(field: "rekeyAfterMessages") }
        guard rejectAfterMessages <= DataPathLimits.rejectAfterMessages else {
            throw .invalidConfiguration(field: "rejectAfterMessages")
        }
        guard rekeyAfterMessages < rejectAfterMessages else {
            throw .invalidConfiguration(field: "rekeyAfterMessages")
        }
        guard rekeyAfterNanoseconds > 0 else { throw .invalidConfiguration(field: "rekeyAfterNanoseconds") }
        guard maxEpoch <= DataPathLimits.maxEpoch else { throw .invalidConfiguration(field: "maxEpoch") }
        guard maxPayloadBytes >= 0, maxPayloadBytes <= Int(UInt32.max) - DataPathLimits.frameOverhead else {
            throw .invalidConfiguration(field: "maxPayloadBytes")
        }
        guard macEngine.isAvailable else { throw .macEngineUnavailable(macEngine) }
    }
}
