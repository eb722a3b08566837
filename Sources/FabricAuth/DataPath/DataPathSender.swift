import Handshake
/// What `seal` produced: the frame occupies `frame[0..<frameLength]`.
public struct SealedFrame: Sendable, Equatable {
    public let frameLength: Int
    public let epoch: UInt32
    public let sequence: UInt64
}

/// The sending half of one direction of one queue pair.
///
/// `~Copyable` on purpose: a copy would carry the same key and sequence
/// counter, and two copies would reuse nonces.
///
/// Frame buffer layout (caller-provided, e.g. a registered memory region):
///
///     [0, 40)            header, written by seal
///     [40, 40+n)         payload, written by the caller beforehand (zero copy;
///                        replaced by its ciphertext for control opcodes)
///     [40+n, 56+n)       tag, written by seal
///
/// The verbs layer posts `frame[0..<frameLength]` as one SGE (SEND) or one
/// RDMA WRITE; the MAC needs header and payload contiguous because libsodium's
/// GCM takes the associated data in one piece.
public struct DataPathSender: ~Copyable {
    public let suite: CipherSuite
    public let direction: Direction
    /// The peer's QPN, written into each header.
    public let remoteQPN: UInt32
    public let configuration: DataPathConfiguration

    private var key: EpochKey
    private var secret: TrafficSecret
    private var sequence: UInt64 = 0
    private var epochStartNanoseconds: UInt64
    public private(set) var metrics = DataPathMetrics()

    /// - Parameters:
    ///   - trafficSecret: the handshake's 32-byte secret for `direction` (copied;
    ///     wipe your copy).
    ///   - now: monotonic nanoseconds (the caller's clock; passed in, no I/O here).
    public init(
        trafficSecret: UnsafeRawBufferPointer, suite: CipherSuite, direction: Direction,
        remoteQPN: UInt32, configuration: DataPathConfiguration = .init(), now: UInt64
    ) throws(DataPathError) {
        try configuration.validate()
        let secret = try TrafficSecret(copying: trafficSecret)
        self.key = try EpochKey(suite: suite, engine: configuration.macEngine, epoch: 0, secret: secret)
        self.secret = secret
        self.suite = suite
        self.direction = direction
        self.remoteQPN = remoteQPN
        self.configuration = configuration
        self.epochStartNanoseconds = now
        self.metrics.macEngine = key.engine
    }

    /// The epoch the next frame will use (unless it triggers a rekey).
    public var epoch: UInt32 { key.epoch }
    /// The sequence the next frame will use.
    public var nextSequence: UInt64 { sequence }

    /// Whether the next seal will move to a new epoch.
    public func needsRekey(now: UInt64) -> Bool {
        // A clock that reads earlier than the epoch start never triggers a rekey
        // (rather than wrapping around and rekeying on every frame).
        sequence >= configuration.rekeyAfterMessages
            || (now > epochStartNanoseconds
                && now - epochStartNanoseconds >= configuration.rekeyAfterNanoseconds)
    }

    /// Moves to the next epoch now: secret_{e+1} from secret_e, new MAC key, the
    /// old secret and key wiped. The receiver follows when it verifies the first
    /// frame of the new epoch; traffic never stops.
    public mutating func rekey(now: UInt64) throws(DataPathError) {
        guard key.epoch < configuration.maxEpoch else { throw .epochsExhausted }
        let nextSecret = secret.next()
        let nextKey = try EpochKey(suite: suite, engine: key.engine, epoch: key.epoch + 1, secret: nextSecret)
        secret.wipe()
        secret = nextSecret
        key = nextKey  // the old EpochKey is released and wiped in its deinit
        sequence = 0
        epochStartNanoseconds = now
        metrics.rekeys += 1
    }

    /// Re-authentication (docs/protocol.md section 14.4): moves this direction
    /// to the next epoch under `secret`, a fresh secret the re-authentication
    /// derived, instead of the chain's secret_{e+1}. Call it right after sealing
    /// the frame that carried this side's last re-authentication message (A3 or
    /// A4), with no seal in between: the peer installs the same secret for the
    /// epoch after that frame's. Later rekeys continue the chain from `secret`.
    /// The old secret and key are wiped. No frame is lost: frames sealed before
    /// this verify under the old key, which the receiver keeps until the first
    /// frame of the new epoch and then for its grace.
    public mutating func switchSending(to secret: UnsafeRawBufferPointer, now: UInt64) throws(DataPathError) {
        guard key.epoch < configuration.maxEpoch else { throw .epochsExhausted }
        let nextSecret = try TrafficSecret(copying: secret)
        let nextKey = try EpochKey(suite: suite, engine: key.engine, epoch: key.epoch + 1, secret: nextSecret)
        self.secret.wipe()
        self.secret = nextSecret
        key = nextKey
        sequence = 0
        epochStartNanoseconds = now
        metrics.rekeys += 1
        metrics.reauthenticationSwitches &+= 1
    }

    /// Seals the frame in place: writes the header before and the tag after the
    /// `payloadLength` payload bytes the caller placed at `frame[40...]`.
    /// A rendezvous control message (`opcode.isEncrypted`, at most
    /// DataPathLimits.maxControlPayloadBytes) is also encrypted in place, with
    /// the header as associated data (EpochKey.encryptControl); every other
    /// payload is authenticated only. No allocation.
    @inline(__always)
    public mutating func seal(
        frame: UnsafeMutableRawBufferPointer, payloadLength: Int, opcode: DataPathOpcode,
        remoteAddress: UInt64 = 0, rkey: UInt32 = 0, now: UInt64
    ) throws(DataPathError) -> SealedFrame {
        guard payloadLength >= 0, payloadLength <= configuration.maxPayloadBytes else {
            throw .payloadTooLarge(payloadLength)
        }
        if opcode.isEncrypted, payloadLength > DataPathLimits.maxControlPayloadBytes {
            throw .payloadTooLarge(payloadLength)
        }
        let frameLength = DataPathLimits.frameOverhead + payloadLength
        guard frame.count >= frameLength else {
            throw .frameTooSmall(required: frameLength, available: frame.count)
        }
        let (epoch, seq) = try nextNonceInputs(now: now)
        let base = frame.baseAddress!
        FrameHeader(
            suite: suite, opcode: opcode, direction: direction, epoch: epoch, qpn: remoteQPN,
            length: UInt32(payloadLength), sequence: seq, remoteAddress: remoteAddress, rkey: rkey
        ).encode(to: base)
        let nonce = Nonce(direction: direction, epoch: epoch, sequence: seq)
        let authenticated = DataPathLimits.headerSize + payloadLength
        nonce.withUnsafeBytes { n in
            if opcode.isEncrypted {
                key.encryptControl(nonce: n.baseAddress!, header: base, text: base + DataPathLimits.headerSize,
                    count: payloadLength, tag: base + authenticated)
            } else {
                key.computeTag(nonce: n.baseAddress!, data: base, count: authenticated, tag: base + authenticated)
            }
        }
        metrics.messagesSealed &+= 1
        metrics.bytesSealed &+= UInt64(payloadLength)
        return SealedFrame(frameLength: frameLength, epoch: epoch, sequence: seq)
    }

    /// Seals a detached message: the payload stays where it is (the
    /// application's registered memory, the source of an RDMA WRITE or the
    /// data an RDMA READ will fetch); the 40-byte header goes to `header` and
    /// the 16-byte tag to `tag` (EpochKey.computeDetachedTag). Used for
    /// `.rdmaWrite` notices and `.rdmaRead` offers. No allocation.
    @inline(__always)
    public mutating func sealDetached(
        payload: UnsafeRawBufferPointer, opcode: DataPathOpcode, remoteAddress: UInt64, rkey: UInt32,
        header: UnsafeMutableRawPointer, tag: UnsafeMutableRawPointer, now: UInt64
    ) throws(DataPathError) -> SealedFrame {
        guard payload.count <= configuration.maxPayloadBytes else { throw .payloadTooLarge(payload.count) }
        let (epoch, seq) = try nextNonceInputs(now: now)
        FrameHeader(
            suite: suite, opcode: opcode, direction: direction, epoch: epoch, qpn: remoteQPN,
            length: UInt32(payload.count), sequence: seq, remoteAddress: remoteAddress, rkey: rkey
        ).encode(to: header)
        Nonce(direction: direction, epoch: epoch, sequence: seq).withUnsafeBytes { n in
            key.computeDetachedTag(nonce: n.baseAddress!, header: UnsafeRawPointer(header),
                payload: payload.baseAddress, count: payload.count, tag: tag)
        }
        metrics.messagesSealed &+= 1
        metrics.bytesSealed &+= UInt64(payload.count)
        return SealedFrame(frameLength: DataPathLimits.frameOverhead, epoch: epoch, sequence: seq)
    }

    /// Rekeys when due and takes the next (epoch, sequence): every seal, of
    /// either layout, draws from this one counter, so no nonce repeats.
    @inline(__always)
    private mutating func nextNonceInputs(now: UInt64) throws(DataPathError) -> (UInt32, UInt64) {
        if needsRekey(now: now) {
            do { try rekey(now: now) } catch {
                // Out of epochs: keep going only while this epoch is below the reject limit.
                if sequence >= configuration.rejectAfterMessages { throw error }
            }
        }
        let seq = sequence
        sequence = seq + 1
        return (key.epoch, seq)
    }

    /// Test seam: jump the sequence (exhaustion tests without 2^32 seals).
    mutating func setNextSequenceForTesting(_ value: UInt64) { sequence = value }
}
