/// Everything one handshake needs from its caller: injected credential, verifier,
/// randomness, the QP endpoints and the payload to deliver.
public struct HandshakeConfiguration: Sendable {
    public var credential: any HandshakeCredential
    public var verifier: any PeerVerifier
    /// This side's QP endpoint; its role decides initiator or responder.
    public var localBinding: ChannelBinding
    /// The endpoint the peer must present (learned out of band); its role must be the opposite.
    public var expectedRemoteBinding: ChannelBinding
    /// Initiator: suites offered, in preference order. Responder: suites acceptable, in
    /// preference order (the responder picks its first one that was offered).
    public var suites: [CipherSuite]
    /// Application payload delivered to the peer only after the peer is authenticated
    /// and authorised (at most HandshakeLimits.maxPayloadSize bytes).
    public var payload: [UInt8]
    public var timeout: Duration
    public var sessionLifetime: Duration
    public var random: any RandomSource
    public var counters: HandshakeCounters?
    /// Responder: finds a cached session by its 16-byte ID for a ResumeRequest (nil: unknown).
    /// Without it the responder refuses every resumption with `.unknownSession`; a session
    /// it returns that this side holds as initiator is refused with `.sessionRoleMismatch`.
    public var sessionLookup: (@Sendable ([UInt8]) -> ResumableSession?)?

    public init(credential: any HandshakeCredential, verifier: any PeerVerifier,
                localBinding: ChannelBinding, expectedRemoteBinding: ChannelBinding,
                suites: [CipherSuite] = CipherSuite.defaultPreference, payload: [UInt8] = [],
                timeout: Duration = HandshakeLimits.defaultTimeout,
                sessionLifetime: Duration = HandshakeLimits.defaultSessionLifetime,
                random: any RandomSource = SodiumRandom(), counters: HandshakeCounters? = nil,
                sessionLookup: (@Sendable ([UInt8]) -> ResumableSession?)? = nil) {
        self.credential = credential
        self.verifier = verifier
        self.localBinding = localBinding
        self.expectedRemoteBinding = expectedRemoteBinding
        self.suites = suites
        self.payload = payload
        self.timeout = timeout
        self.sessionLifetime = sessionLifetime
        self.random = random
        self.counters = counters
        self.sessionLookup = sessionLookup
    }

    /// Local misuse the machine refuses up front (with `.localConfiguration`).
    func validate() -> HandshakeError? {
        if !Libsodium.isReady {
            return HandshakeError(.localConfiguration, "libsodium could not be initialised (sodium_init failed); no handshake can run")
        }
        if localBinding.role == expectedRemoteBinding.role {
            return HandshakeError(.localConfiguration, "local and expected remote bindings have the same role")
        }
        if payload.count > HandshakeLimits.maxPayloadSize {
            return HandshakeError(.localConfiguration, "payload of \(payload.count) bytes > \(HandshakeLimits.maxPayloadSize)")
        }
        if suites.isEmpty || suites.count > HandshakeLimits.maxOfferedSuites {
            return HandshakeError(.localConfiguration, "between 1 and \(HandshakeLimits.maxOfferedSuites) suites needed")
        }
        return nil
    }
}
