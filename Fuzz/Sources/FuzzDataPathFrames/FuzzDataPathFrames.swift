// Data-path frames, contiguous (DataPathReceiver.open) and detached (openDetached), against
// a receiver keyed like a real sender with a fixed traffic secret. The input is a program
// for a network between the two: seal frames, deliver them, deliver them again, deliver
// them with a bit flipped, deliver raw bytes from the input, advance the clock, rekey.
// Small rekey limits make epochs turn over within one input.
//
// Oracles (each a trap): a delivered frame is one the sender sealed, unmodified, and with
// the payload it sealed (for an encrypted control frame: the plaintext, decrypted in place); no (epoch, sequence) is delivered twice; a modified frame is never
// delivered; raw input bytes are delivered only if they are a sealed frame byte for byte.
import FuzzSupport
import FabricAuth
import Handshake

/// The fixed traffic secret (both ends hold it, as after a handshake). Read-only after
/// its first use; libFuzzer runs inputs on one thread.
nonisolated(unsafe) let secret: UnsafeRawBufferPointer = {
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 8)
    bytes.initializeMemory(as: UInt8.self, repeating: 0x5A)
    return UnsafeRawBufferPointer(bytes)
}()
let qpn: UInt32 = 0x00_0123
let slots = 8
let maxPayload = 512

/// A program's view of the input: bytes read front to back, zero once exhausted.
struct Program {
    var bytes: [UInt8]
    var position = 0
    var isDone: Bool { position >= bytes.count }
    mutating func byte() -> UInt8 {
        defer { position += 1 }
        return position < bytes.count ? bytes[position] : 0
    }
    mutating func take(_ n: Int) -> [UInt8] {
        let end = min(bytes.count, position + n)
        defer { position = end }
        return position < end ? Array(bytes[position..<end]) : []
    }
}

/// What the sender produced, kept so it can be delivered (again) later.
struct Sealed {
    var frame: [UInt8]           // contiguous: header || payload || tag; detached: header || tag
    var payload: [UInt8]
    var detached: Bool
}

struct Key: Hashable { var epoch: UInt32; var sequence: UInt64 }

/// Runs one program; returns how many frames were delivered.
func run(_ input: [UInt8]) -> Int {
    var program = Program(bytes: input)
    let flags = program.byte()
    var configuration = DataPathConfiguration()
    configuration.rekeyAfterMessages = UInt64(2 + (flags >> 4))
    configuration.maxEpoch = 3
    configuration.previousEpochGraceMessages = UInt64(flags & 0x7)
    configuration.previousEpochGraceNanoseconds = 1_000
    configuration.maxPayloadBytes = maxPayload
    configuration.failurePolicy = flags & 0x8 != 0 ? .fatal : .dropAndCount
    let suite: CipherSuite = flags & 0x80 != 0 && CipherSuite.aes256GMAC.isAvailable ? .aes256GMAC : .chacha20Poly1305
    var now: UInt64 = 1_000_000
    var sender: DataPathSender
    var receiver: DataPathReceiver
    do {
        sender = try DataPathSender(trafficSecret: secret, suite: suite, direction: .initiatorToResponder,
                                    remoteQPN: qpn, configuration: configuration, now: now)
        receiver = try DataPathReceiver(trafficSecret: secret, suite: suite, direction: .initiatorToResponder,
                                        localQPN: qpn, configuration: configuration, now: now)
    } catch {
        preconditionFailure("a valid configuration was refused: \(error)")
    }

    var ring: [Sealed] = []
    var sealedByKey: [Key: Sealed] = [:]
    var delivered = Set<Key>()
    var buffer = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead + maxPayload + 64)

    /// Checks a delivery against what was sealed; `genuine` is false for modified or raw bytes.
    func check(_ result: Delivery, genuine: Bool, frame: [UInt8]) {
        guard case .delivered(let header, let payload) = result else { return }
        let key = Key(epoch: header.epoch, sequence: header.sequence)
        guard let original = sealedByKey[key] else { preconditionFailure("delivered a frame never sealed: \(key)") }
        precondition(genuine || frame == original.frame, "delivered a modified frame: \(key)")
        precondition(payload == original.payload, "delivered a payload that was not sealed: \(key)")
        precondition(delivered.insert(key).inserted, "delivered twice: \(key)")
    }

    while !program.isDone {
        let op = program.byte()
        switch op % 9 {
        case 0, 1:  // seal, contiguous (0) or detached (1)
            // Payload contents do not steer anything before the MAC; a pattern will do.
            let length = Int(program.byte()) * 2 % (maxPayload + 1)
            let fill = program.byte()
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) &+ fill }
            now += 10
            if op % 9 == 0 {
                buffer.withUnsafeMutableBytes { b in
                    b.baseAddress!.advanced(by: DataPathLimits.headerSize).copyMemory(from: payload, byteCount: length)
                }
                // An odd fill seals a short payload as an encrypted control frame
                // (AEAD): the oracle then also checks decryption.
                let opcode: DataPathOpcode = fill & 1 == 1 && length <= DataPathLimits.maxControlPayloadBytes
                    ? .writeGrant : .send
                guard let sealed = buffer.withUnsafeMutableBytes({ b in
                    try? sender.seal(frame: b, payloadLength: length, opcode: opcode, now: now)
                }) else { continue }
                let entry = Sealed(frame: Array(buffer[0..<sealed.frameLength]), payload: payload, detached: false)
                ring.append(entry)
                sealedByKey[Key(epoch: sealed.epoch, sequence: sealed.sequence)] = entry
            } else {
                var headerAndTag = [UInt8](repeating: 0, count: DataPathLimits.frameOverhead)
                guard let sealed = headerAndTag.withUnsafeMutableBytes({ h in
                    payload.withUnsafeBytes { p in
                        try? sender.sealDetached(payload: p, opcode: .rdmaWrite, remoteAddress: 0x7f00_0000_1000,
                                                 rkey: 0x77, header: h.baseAddress!,
                                                 tag: h.baseAddress! + DataPathLimits.headerSize, now: now)
                    }
                }) else { continue }
                let entry = Sealed(frame: headerAndTag, payload: payload, detached: true)
                ring.append(entry)
                sealedByKey[Key(epoch: sealed.epoch, sequence: sealed.sequence)] = entry
            }
            if ring.count > slots { ring.removeFirst() }
        case 2, 3:  // deliver a sealed frame as it is (3: twice)
            guard !ring.isEmpty else { continue }
            let entry = ring[Int(program.byte()) % ring.count]
            for _ in 0..<(op % 9 == 3 ? 2 : 1) {
                check(deliver(entry.frame, payload: entry.payload, detached: entry.detached, &receiver, now: now),
                      genuine: true, frame: entry.frame)
            }
        case 4:  // deliver a sealed frame with one bit flipped (header, payload or tag)
            guard !ring.isEmpty else { continue }
            let entry = ring[Int(program.byte()) % ring.count]
            var frame = entry.frame
            var payload = entry.payload
            let position = Int(program.byte()) << 8 | Int(program.byte())
            let bit = UInt8(1) << (program.byte() % 8)
            if entry.detached, position % 2 == 1, !payload.isEmpty {
                payload[position % payload.count] ^= bit
            } else {
                frame[position % frame.count] ^= bit
            }
            let result = deliver(frame, payload: payload, detached: entry.detached, &receiver, now: now)
            if case .delivered = result { preconditionFailure("delivered a frame with a flipped bit") }
        case 5:  // raw contiguous frame from the input
            let frame = program.take(Int(program.byte()) << 1 | Int(program.byte() & 1))
            let result = deliver(frame, payload: [], detached: false, &receiver, now: now)
            check(result, genuine: false, frame: frame)
        case 6:  // raw detached header and tag from the input, payload from the input
            let frame = program.take(DataPathLimits.frameOverhead)
            guard frame.count == DataPathLimits.frameOverhead else { continue }
            let payload = program.take(Int(program.byte()) * 2)
            let result = deliver(frame, payload: payload, detached: true, &receiver, now: now)
            if case .delivered = result {
                let original = sealedByKey.values.first { $0.detached && $0.frame == frame && $0.payload == payload }
                precondition(original != nil, "delivered detached bytes that were never sealed")
            }
            check(result, genuine: true, frame: frame)
        case 7:  // the clock moves (past grace periods and rekey deadlines)
            now += UInt64(program.byte()) * 64
        default:  // the sender rekeys now
            try? sender.rekey(now: now)
        }
        if receiver.isClosed { break }
    }
    return delivered.count
}

/// What a delivery gave, the payload copied out while its buffer lived.
enum Delivery {
    case delivered(FrameHeader, [UInt8])
    case rejected
}

func deliver(_ frame: [UInt8], payload: [UInt8], detached: Bool, _ receiver: inout DataPathReceiver,
             now: UInt64) -> Delivery {
    func copied(_ result: OpenResult) -> Delivery {
        guard case .delivered(let message) = result else { return .rejected }
        return .delivered(message.header, Array(message.payload))
    }
    if !detached {
        var copy = frame  // open decrypts a control frame's payload in place
        return copy.withUnsafeMutableBytes { copied(receiver.open(frame: $0, now: now)) }
    }
    precondition(frame.count == DataPathLimits.frameOverhead)
    return frame.withUnsafeBytes { f in
        payload.withUnsafeBytes { p in
            copied(receiver.openDetached(header: f.baseAddress!, payload: p,
                                         tag: f.baseAddress! + DataPathLimits.headerSize, now: now))
        }
    }
}

/// Seed programs and how many frames each delivers: in order; out of order and replayed;
/// across a rekey with a late frame of the old epoch inside and after its grace; detached;
/// a tampered frame; raw bytes; AES-GMAC with the fatal policy (a replay closes).
let seedPrograms: [(name: String, bytes: [UInt8], delivers: Int)] = [
    ("in-order", [0x00, 0, 8, 1, 2, 0, 0, 20, 2, 2, 1], 2),
    ("reordered-replayed", [0x11, 0, 4, 1, 0, 4, 2, 0, 4, 3, 2, 2, 2, 0, 3, 1], 3),
    ("rekey-late-frame", [0x02, 0, 4, 1, 0, 4, 2, 8, 0, 4, 3, 2, 2, 2, 0, 7, 20, 2, 1], 2),
    ("detached", [0x00, 1, 16, 1, 2, 0, 1, 0, 2, 3, 1], 2),
    ("tampered", [0x00, 0, 8, 1, 4, 0, 0, 41, 3, 2, 0], 1),
    ("raw", [0x08, 5, 28, 0] + [UInt8](repeating: 0, count: 56) + [6] + [UInt8](repeating: 1, count: 56) + [0], 0),
    ("aes-fatal", [0x88, 0, 8, 1, 2, 0, 3, 0], 1),
]

/// The harness checks itself once: each seed delivers what it should, or the fuzzer
/// would explore only rejections.
let seedsDeliver: Bool = {
    for seed in seedPrograms {
        let delivered = run(seed.bytes)
        precondition(delivered == seed.delivers, "seed \(seed.name) delivered \(delivered), not \(seed.delivers)")
    }
    return true
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    precondition(seedsDeliver)
    _ = run(inputBytes(data, size))
    return 0
}

@_cdecl("FuzzDataPathFrames_main")
public func fuzzTargetMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    fuzzMain(argc, argv, seeds: { seedPrograms.map { ($0.name, $0.bytes) } }, callback: { fuzzOneInput($0, $1) })
}
