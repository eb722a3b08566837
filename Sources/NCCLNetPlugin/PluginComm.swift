#if canImport(Glibc)
import Glibc
#endif
import FabricAuth
import Foundation

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

    init(comm: PluginComm, index: Int) {
        self.comm = comm
        self.index = index
        buffers.reserveCapacity(PluginRuntime.maxRecvs)
    }
}

/// NCCL's sendComm or recvComm: one authenticated channel plus its request
/// table. NCCL drives a comm from its proxy thread; the lock makes a call from
/// any other thread (regMr from the main thread) wait instead of racing.
final class PluginComm {
    enum Role: String { case send, receive }

    let role: Role
    let runtime: PluginRuntime
    let channel: AuthenticatedQueuePair
    let lock = NSLock()
    private var slots: [RequestSlot] = []
    private var freeSlots: [Int] = []
    private var windowsInUse = 0
    /// The send NCCL last retried (isend returned NULL): its bytes are already in the shadow.
    private var staged: (address: UnsafeMutableRawPointer, count: Int, tag: UInt32)?

    /// Requests one comm holds at once (NCCL_NET_MAX_REQUESTS, net.h).
    static let requestsPerComm = PluginRuntime.maxRequests

    init(role: Role, runtime: PluginRuntime, channel: AuthenticatedQueuePair) {
        self.role = role
        self.runtime = runtime
        self.channel = channel
        slots = (0..<Self.requestsPerComm).map { RequestSlot(comm: self, index: $0) }
        freeSlots = Array((0..<Self.requestsPerComm).reversed())
    }

    func register(_ data: UnsafeMutableRawPointer, size: Int) throws(ChannelError) -> MemoryHandle {
        guard size > 0 else { throw .invalidRequest("regMr of 0 bytes") }
        // One spare byte: a zero-byte receive still needs a window of at least
        // one byte (the channel refuses empty targets), even at the very end.
        return MemoryHandle(comm: self, base: data, size: size, shadow: try channel.allocateMemory(bytes: size + 1))
    }

    /// nil: the peer has granted no window yet, or all 32 requests are
    /// outstanding (NCCL retries).
    func isend(_ data: UnsafeMutableRawPointer, size: Int, tag: UInt32, memory: MemoryHandle) throws(ChannelError) -> RequestSlot? {
        guard role == .send else { throw .invalidRequest("isend on a receive comm") }
        guard let offset = memory.offset(of: data, count: size) else {
            throw .invalidRequest("isend of \(size) bytes outside its \(memory.size)-byte registration")
        }
        guard let index = freeSlots.last else { return nil }
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

    /// nil: all 32 requests of the comm are outstanding (NCCL retries).
    func irecv(count n: Int, data: UnsafeMutablePointer<UnsafeMutableRawPointer?>, sizes: UnsafePointer<Int>,
        tags: UnsafePointer<UInt32>, memories: UnsafePointer<UnsafeMutableRawPointer?>) throws(ChannelError) -> RequestSlot? {
        guard role == .receive else { throw .invalidRequest("irecv on a send comm") }
        guard (1...PluginRuntime.maxRecvs).contains(n) else { throw .invalidRequest("irecv of \(n) buffers") }
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
        do {
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
        guard let request = slot.request else { throw .invalidRequest("test of a request that is not outstanding") }
        let done: ReceiveSizes?
        do {
            done = try channel.testSizes(request)
        } catch {
            release(slot)
            throw error
        }
        guard let done else { return nil }
        guard slot.count == 0 || done.count == slot.count else {
            release(slot)
            throw .invalidRequest("a receive of \(slot.count) buffers completed with \(done.count) sizes")
        }
        if slot.count > 0 {
            for i in 0..<slot.count where done[i] > slot.capacities[i] {
                // Only possible through the spare byte of a zero-byte receive: never copy past NCCL's buffer.
                release(slot)
                throw .receiveBufferTooSmall(needed: done[i], available: slot.capacities[i])
            }
            for i in 0..<slot.count {
                slot.destinations[i]!.copyMemory(from: slot.sources[i]!, byteCount: done[i])
            }
        }
        for i in 0..<done.count { sizes[i] = done[i] }
        release(slot)
        return done.count
    }

    private func release(_ slot: RequestSlot) {
        windowsInUse -= slot.count
        slot.count = 0
        slot.request = nil
        for i in 0..<PluginRuntime.maxRecvs {
            slot.sources[i] = nil
            slot.destinations[i] = nil
        }
        slot.buffers.removeAll(keepingCapacity: true)
        freeSlots.append(slot.index)
    }

    func close() {
        channel.close()
    }
}
