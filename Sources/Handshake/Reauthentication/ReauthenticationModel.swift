/// What a re-authentication needs from its caller (docs/protocol.md section 14): the
/// newest local credential, the verifier (trust bundle, revocation, policy as they are
/// now), the channel's two QP bindings as the handshake bound them, and randomness.
public struct ReauthenticationConfiguration: Sendable {
    /// Signs this side's A2 or A3. Replace it (``ReauthenticationMachine/updateCredential(_:)``
    /// or ``ReauthenticationMachine/start(with:now:)``) when a new credential is loaded:
    /// a responder answers with the newest one.
    public var credential: any HandshakeCredential
    public var verifier: any PeerVerifier
    /// This side's binding; its role is this side's role in the QP's handshake.
    public var localBinding: ChannelBinding
    /// The peer's binding (the handshake's expected remote binding).
    public var remoteBinding: ChannelBinding
    /// From A1 sent (requester) or received (responder) to the end of the run.
    public var timeout: Duration
    public var random: any RandomSource
    public var counters: HandshakeCounters?

    public init(credential: any HandshakeCredential, verifier: any PeerVerifier,
                localBinding: ChannelBinding, remoteBinding: ChannelBinding,
                timeout: Duration = HandshakeLimits.defaultTimeout,
                random: any RandomSource = SodiumRandom(), counters: HandshakeCounters? = nil) {
        self.credential = credential
        self.verifier = verifier
        self.localBinding = localBinding
        self.remoteBinding = remoteBinding
        self.timeout = timeout
        self.random = random
        self.counters = counters
    }

    /// binding_I || binding_R, in the handshake's roles.
    var initiatorBinding: ChannelBinding { localBinding.role == .initiator ? localBinding : remoteBinding }
    var responderBinding: ChannelBinding { localBinding.role == .initiator ? remoteBinding : localBinding }
}

/// A finished re-authentication, handed to the data path (docs/protocol.md section 14.4).
/// Secrets are copies of their own; the caller wipes the result once the data path has
/// taken them.
public struct ReauthenticationResult: Sendable {
    /// The generation now in force (1 after the first re-authentication).
    public let generation: UInt32
    /// The peer as verified in this run: the same identity, its new certificate.
    public let peer: any VerifiedPeer
    /// The peer's direction's new secret: install it in the receiver for the epoch
    /// after the frame that carried the message this result answers (A3 or A4).
    public let receiveSecret: SecretBytes
    /// The re-auth responder's own direction's new secret: switch the sender to it right
    /// after sealing the frame carrying A4. nil at the requester, which switched at A3.
    public let sendSecret: SecretBytes?

    /// Zeroes the secrets.
    public func wipe() {
        receiveSecret.wipe()
        sendSecret?.wipe()
    }
}

/// What one step of the re-authentication machine asks the channel to do. Every
/// message goes out as one data-path frame of opcode 8 under the *current* sending key.
public enum ReauthenticationOutput: Sendable {
    /// Nothing to do: the peer's A1 lost the tie-break (section 14.5) and was ignored.
    case none
    /// Send A1 (requester) or A2 (responder) and wait.
    case send([UInt8])
    /// Requester after A2: send A3, then at once `DataPathSender.switchSending(to: sendSecret)`.
    case sendThenSwitchSending([UInt8], sendSecret: SecretBytes)
    /// Done. First `DataPathReceiver.installReceiving(secret: result.receiveSecret,
    /// afterEpoch:` the epoch of the frame that carried the message just received`)`;
    /// then, at the responder, send `thenSend` (A4) and switch the sender to
    /// `result.sendSecret`. The channel's peer is now `result.peer`.
    case finished(ReauthenticationResult, thenSend: [UInt8]?)
    /// Failed for good: send `alert` (when non-nil) in an opcode-8 frame and close the
    /// channel with the error as its reason.
    case abort(HandshakeError, alert: [UInt8]?)

    public var error: HandshakeError? {
        if case .abort(let e, _) = self { return e }
        return nil
    }

    /// The bytes to send, if any.
    public var message: [UInt8]? {
        switch self {
        case .none: nil
        case .send(let m), .sendThenSwitchSending(let m, _): m
        case .finished(_, let m): m
        case .abort(_, let alert): alert
        }
    }
}
