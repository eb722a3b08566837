import Verbs

/// The verbs-side half of the rendezvous, beside the machine's state: which
/// application memory each target, offer and read uses, the tickets of posted
/// READs, and the 56-byte detached records (data header + tag) kept for
/// verification. Indexed like the machine's tables; allocated once with the
/// channel, so no transfer allocates.
final class TransferTable {
    var targetMemory: [ChannelMemory?]
    var targetOffset: [Int]
    var offerMemory: [ChannelMemory?]
    var readMemory: [ChannelMemory?]
    var readOffset: [Int]
    var readTicket: [UInt64]
    /// The epoch key each peer offer's data was admitted under, then each
    /// read's: held so a late READ verifies after rekeys (DataPathReceiver
    /// admitOfferedRead).
    var peerOfferKey: [EpochKey?]
    var readKey: [EpochKey?]
    /// The WRITE notice of each target (copied so its receive slot can be
    /// reposted while the window closes), each peer offer, each read.
    private let records: UnsafeMutableRawBufferPointer
    private let targetCount: Int
    private let peerOfferCount: Int
    /// The QP's remote rights so far (none until the first irecv/offer).
    var access: AccessFlags = []
    var metrics = RemoteAccessMetrics()

    init(limits: Rendezvous.Limits) {
        targetMemory = Array(repeating: nil, count: limits.targets)
        targetOffset = Array(repeating: 0, count: limits.targets)
        offerMemory = Array(repeating: nil, count: limits.requests)
        readMemory = Array(repeating: nil, count: limits.requests)
        readOffset = Array(repeating: 0, count: limits.requests)
        readTicket = Array(repeating: 0, count: limits.requests)
        peerOfferKey = Array(repeating: nil, count: limits.peerEntries)
        readKey = Array(repeating: nil, count: limits.requests)
        targetCount = limits.targets
        peerOfferCount = limits.peerEntries
        let total = limits.targets + limits.peerEntries + limits.requests
        records = .allocate(byteCount: total * DataPathLimits.frameOverhead, alignment: 16)
        records.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { records.deallocate() }

    private func record(_ n: Int) -> UnsafeMutableRawPointer { records.baseAddress! + n * DataPathLimits.frameOverhead }
    func targetRecord(_ t: Int) -> UnsafeMutableRawPointer { record(t) }
    func peerOfferRecord(_ slot: Int) -> UnsafeMutableRawPointer { record(targetCount + slot) }
    func readRecord(_ r: Int) -> UnsafeMutableRawPointer { record(targetCount + peerOfferCount + r) }
}
