#if canImport(Glibc)
import Glibc
#endif
import FabricAuth
import Foundation
import Synchronization

// The data path of a comm, with bounce buffers ("shadows"):
//
//   regMr(data, size)  -> a shadow of `size` bytes, registered with the
//                         comm's channel; NCCL's own buffer is never registered
//   isend(data + off)  -> copy NCCL's bytes into shadow[off...], the channel
//                         MACs and WRITEs them from there
//   irecv(data + off)  -> the channel grants the peer a window over
//                         shadow[off...], never over NCCL's buffer
//   test(recv)         -> done only after the channel verified the WRITE;
//                         then shadow[off..<off+n] is copied into NCCL's buffer
//
// So no unverified byte reaches NCCL's memory: LL/LL128 read NCCL's buffer by
// flags without waiting for test (net.cc presets NCCL_NET_OPTIONAL_RECV_COMPLETION),
// and a forged WRITE must never be visible there. The cost is a second copy
// of every byte and twice the registered memory (docs/nccl.md).
//
// With MAC workers (FABRICAUTH_MAC_THREADS > 0) the same steps run on the
// comm's worker thread instead of NCCL's (PluginWorkers.swift,
// PluginComm+Workers.swift); this file's isend/irecv/test then only queue
// requests and collect their results.

/// NCCL's mhandle: NCCL's buffer and the shadow that stands in for it on the wire.
final class MemoryHandle {
    let comm: PluginComm
    let base: UnsafeMutableRawPointer
    let size: Int
    let shadow: ChannelMemory

    init(comm: PluginComm, base: UnsafeMutableRawPointer, size: Int, shadow: ChannelMemory) {
        self.comm = comm
        self.base = base
        self.size = size
        self.shadow = shadow
    }

    /// The offset of `data[0..<count]` in the registration, or nil when it lies outside.
    func offset(of data: UnsafeMutableRawPointer, count: Int) -> Int? {
        let offset = data - base
        guard offset >= 0, count >= 0, offset <= size - count else { return nil }
        return offset
    }
}

/// NCCL's request: a slot of a fixed table made with the comm, so starting and
/// completing a request allocates nothing. NCCL's `test` passes only the
/// request, so the slot knows its comm.
final class RequestSlot {
    unowned(unsafe) let comm: PluginComm
    let index: Int
    var request: ChannelRequest?
    /// Buffers of a receive: where verified bytes come from and go to, and how many NCCL's buffer holds.
    var count = 0
    var capacities = [Int](repeating: 0, count: PluginRuntime.maxRecvs)
    var sources = [UnsafeRawPointer?](repeating: nil, count: PluginRuntime.maxRecvs)
    var destinations = [UnsafeMutableRawPointer?](repeating: nil, count: PluginRuntime.maxRecvs)
    var buffers: [ReceiveBuffer] = []

    // With a MAC worker: the request as NCCL's thread queued it, and the
    // worker's answer (RequestState says who may touch which field when).
    let state = Atomic<Int>(RequestState.free.rawValue)
    /// A send: NCCL's bytes, and where in the shadow they are staged.
    var sendSource: UnsafeRawPointer?
    var sendShadow: ChannelMemory?
    var sendRange = 0..<0
    var sendTag: UInt32 = 0
    /// Whether the send's bytes are in the shadow already (a send waiting for a grant is copied once).
    var staged = false
    /// What `done` reports, written by the worker before it stores `done`.
    var result = ReceiveSizes()
    /// Why the request failed, written by the worker before it stores `failed`.
    var failure: ChannelError?

    init(comm: PluginComm, index: Int) {
        self.comm = comm
        self.index = index
        buffers.reserveCapacity(PluginRuntime.maxRecvs)
    }
}

/// NCCL's sendComm or recvComm: one authenticated channel plus its request
/// table. NCCL drives a comm from its proxy thread; `lock` makes a call from
/// any other thread (regMr from the main thread) wait instead of racing.
/// `channelLock` is held by whoever uses the channel outside NCCL's calls:
/// the comm's MAC worker while it serves the comm, regMr, and close.
final class PluginComm {
    enum Role: String { case send, receive }

    let role: Role
    let runtime: PluginRuntime
    let channel: AuthenticatedQueuePair
    let lock = NSLock()
    let channelLock = NSLock()
    /// The thread that seals, verifies and copies for this comm; nil: NCCL's own (FABRICAUTH_MAC_THREADS=0).
    let worker: MACWorker?
    // Owned by NCCL's thread (under `lock`):
    var slots: [RequestSlot] = []
    var freeSlots: [Int] = []
    var windowsInUse = 0
    // Worker mode: requests queued for the worker in NCCL's order, and the
    // worker's own list of those posted on the channel.
    let queued = SlotQueue(capacity: PluginComm.queueCapacity)
    var posted = [Int](repeating: 0, count: PluginComm.requestsPerComm)
    var postedCount = 0
    /// Set by the worker (before it publishes the failed request) when a request failed for a
    /// reason of the network or the peer: NCCL's later isend/irecv on the comm fail.
    let failed = Atomic<Bool>(false)
    /// The error that set `failed` (written once by the worker before it), which those later calls return,
    /// so the log names the cause even before NCCL tests the request that failed.
    var firstFailure: ChannelError?
    /// The send NCCL last retried (isend returned NULL): its bytes are already in the shadow.
    private var staged: (address: UnsafeMutableRawPointer, count: Int, tag: UInt32)?

    /// Requests one comm holds at once (NCCL_NET_MAX_REQUESTS, net.h).
    static let requestsPerComm = PluginRuntime.maxRequests
    /// The queue holds every slot at once (a power of two, as SlotQueue needs).
    static let queueCapacity = 1 << (Int.bitWidth - (requestsPerComm - 1).leadingZeroBitCount)

    init(role: Role, runtime: PluginRuntime, channel: AuthenticatedQueuePair) {
        self.role = role
        self.runtime = runtime
        self.channel = channel
        worker = runtime.macWorkers?.assign()
        slots = (0..<Self.requestsPerComm).map { RequestSlot(comm: self, index: $0) }
        freeSlots = Array((0..<Self.requestsPerComm).reversed())
        worker?.add(self)
    }

    func register(_ data: UnsafeMutableRawPointer, size: Int) throws(ChannelError) -> MemoryHandle {
        guard size > 0 else { throw .invalidRequest("regMr of 0 bytes") }
        // The comm's worker may be using the channel: register between its passes.
        channelLock.lock()
        defer { channelLock.unlock() }
        // One spare byte: a zero-byte receive still needs a window of at least
        // one byte (the channel refuses empty targets), even at the very end.
        return MemoryHandle(comm: self, base: data, size: size, shadow: try channel.allocateMemory(bytes: size + 1))
    }

    /// nil: the peer has granted no window yet, all 32 requests are
    /// outstanding, or no send slot is free yet (NCCL retries).
    func isend(_ data: UnsafeMutableRawPointer, size: Int, tag: UInt32, memory: MemoryHandle) throws(ChannelError) -> RequestSlot? {
        guard role == .send else { throw .invalidRequest("isend on a receive comm") }
        guard let offset = memory.offset(of: data, count: size) else {
            throw .invalidRequest("isend of \(size) bytes outside its \(memory.size)-byte registration")
        }
        if worker != nil { return try queueSend(data, range: offset..<(offset + size), tag: tag, memory: memory) }
        // NCCL's proxy thread must not wait in the channel: nil, and NCCL calls again.
        guard let index = freeSlots.last, try channel.isReadyToSend() else { return nil }
        if staged.map({ $0.address != data || $0.count != size || $0.tag != tag }) ?? true {
            memory.shadow.bytes.baseAddress!.advanced(by: offset).copyMemory(from: data, byteCount: size)
            staged = (data, size, tag)
        }
        let sent: ChannelRequest?
        do {
            sent = try channel.isend(memory.shadow, range: offset..<(offset + size), tag: tag)
        } catch let error where error.asksNCCLToRetry {
            return nil
        }
        guard let request = sent else { return nil }
        staged = nil
        freeSlots.removeLast()
        let slot = slots[index]
        slot.request = request
        slot.count = 0
        return slot
    }

    /// nil: all 32 requests of the comm are outstanding, or the channel can't
    /// grant without waiting for the peer's acknowledgements (NCCL retries).
    func irecv(count n: Int, data: UnsafeMutablePointer<UnsafeMutableRawPointer?>, sizes: UnsafePointer<Int>,
        tags: UnsafePointer<UInt32>, memories: UnsafePointer<UnsafeMutableRawPointer?>) throws(ChannelError) -> RequestSlot? {
        guard role == .receive else { throw .invalidRequest("irecv on a send comm") }
        guard (1...PluginRuntime.maxRecvs).contains(n) else { throw .invalidRequest("irecv of \(n) buffers") }
        if worker != nil, failed.load(ordering: .acquiring) { throw firstFailure ?? .closed }
        guard let index = freeSlots.last, windowsInUse + n <= PluginRuntime.windowsPerComm else { return nil }
        let slot = slots[index]
        slot.buffers.removeAll(keepingCapacity: true)
        for i in 0..<n {
            guard let m = memories[i] else { throw .invalidRequest("irecv buffer \(i) has no mhandle") }
            let memory = Unmanaged<MemoryHandle>.fromOpaque(m).takeUnretainedValue()
            guard memory.comm === self else { throw .invalidRequest("irecv buffer \(i) registered with another comm") }
            guard let target = data[i], let offset = memory.offset(of: target, count: sizes[i]) else {
                throw .invalidRequest("irecv buffer \(i) of \(sizes[i]) bytes outside its \(memory.size)-byte registration")
            }
            slot.buffers.append(ReceiveBuffer(memory.shadow, range: offset..<(offset + max(sizes[i], 1)), tag: tags[i]))
            slot.capacities[i] = sizes[i]
            slot.sources[i] = UnsafeRawPointer(memory.shadow.bytes.baseAddress! + offset)
            slot.destinations[i] = target
        }
        if worker != nil {
            slot.count = n
            windowsInUse += n
            freeSlots.removeLast()
            queue(slot)
            return slot
        }
        do {
            guard try channel.isReadyToReceive(buffers: n) else {
                slot.buffers.removeAll(keepingCapacity: true)
                return nil
            }
            slot.request = try channel.irecv(slot.buffers)
        } catch let error where error.asksNCCLToRetry {
            // Nothing was granted (the channel refuses before binding).
            slot.buffers.removeAll(keepingCapacity: true)
            return nil
        }
        slot.count = n
        windowsInUse += n
        freeSlots.removeLast()
        return slot
    }

    /// Whether `slot` is done; for a receive, its verified bytes are in NCCL's buffers before this says so.
    func test(_ slot: RequestSlot, sizes: UnsafeMutablePointer<Int>) throws(ChannelError) -> Int? {
        if worker != nil { return try collect(slot, sizes: sizes) }
        guard let request = slot.request else { throw .invalidRequest("test of a request that is not outstanding") }
        let done: ReceiveSizes?
        do {
            done = try channel.testSizes(request)
        } catch {
            release(slot)
            throw error
        }
        guard let done else { return nil }
        do {
            try deliver(slot, done)
        } catch {
            release(slot)
            throw error
        }
        for i in 0..<done.count { sizes[i] = done[i] }
        release(slot)
        return done.count
    }

    /// A receive the channel reported verified: its bytes copied from the shadow into NCCL's buffers.
    /// Runs on whichever thread uses the channel (NCCL's, or the worker's).
    func deliver(_ slot: RequestSlot, _ done: ReceiveSizes) throws(ChannelError) {
        guard slot.count == 0 || done.count == slot.count else {
            throw .invalidRequest("a receive of \(slot.count) buffers completed with \(done.count) sizes")
        }
        guard slot.count > 0 else { return }
        for i in 0..<slot.count where done[i] > slot.capacities[i] {
            // Only possible through the spare byte of a zero-byte receive: never copy past NCCL's buffer.
            throw .receiveBufferTooSmall(needed: done[i], available: slot.capacities[i])
        }
        for i in 0..<slot.count {
            slot.destinations[i]!.copyMemory(from: slot.sources[i]!, byteCount: done[i])
        }
    }

    func release(_ slot: RequestSlot) {
        windowsInUse -= slot.count
        slot.count = 0
        slot.request = nil
        for i in 0..<PluginRuntime.maxRecvs {
            slot.sources[i] = nil
            slot.destinations[i] = nil
        }
        slot.buffers.removeAll(keepingCapacity: true)
        slot.sendSource = nil
        slot.sendShadow = nil
        slot.staged = false
        slot.failure = nil
        slot.state.store(RequestState.free.rawValue, ordering: .relaxed)
        freeSlots.append(slot.index)
    }

    /// Closes the channel; with a worker, only once the worker has let go of the comm.
    func close() {
        worker?.remove(self)
        channelLock.lock()
        channel.close()
        channelLock.unlock()
    }
}
