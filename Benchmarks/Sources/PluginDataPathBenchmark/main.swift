// PluginDataPathBenchmark: the CPU cost per byte of the NCCL plug-in's data
// path on the host, against memcpy, with 1, 2 and 4 MAC threads.
//
//   swift run -c release --package-path Benchmarks PluginDataPathBenchmark [--threads 1,2,4] [--json]
//
// What one message costs the plug-in's CPU (Sources/NCCLNetPlugin/PluginComm.swift,
// PluginComm+Workers.swift; the RDMA WRITE itself is the NIC's):
//   send     stage: memcpy NCCL's buffer -> the send shadow; then
//            DataPathSender.sealDetached over the shadow (AES-256-GMAC, header and
//            tag apart from the payload, as channel.isend does)
//   receive  DataPathReceiver.openDetached over the receive shadow (the bytes the
//            WRITE left there); then memcpy shadow -> NCCL's buffer (test's copy)
// Here the receive shadow is the send shadow (the WRITE is not simulated):
// each thread owns a sender/receiver pair with a real random key, as one MAC
// worker serving a send comm and a receive comm. Baseline: memcpy of the same
// bytes (NCCL's send buffer -> its receive buffer), measured in the same round
// on the same threads, all K at once, before the data path, so both meet the
// same memory-bandwidth contention.
//
// Each thread rotates over its own buffers (NCCL send, shadow, NCCL receive)
// of max(16 MiB, 8 x size) each, so from 1 MiB up the bytes stream from DRAM
// (3 x 16 MiB per thread against a 32 MiB L3 on the reference host).
// Figures: GB/s = payload bytes (10^9) per second of a thread's CPU time
// (CLOCK_THREAD_CPUTIME_ID), averaged over the K threads ("per thread"), and
// all threads' bytes per second of wall clock over the data-path phase (what
// the host gave K threads: at most its free cores' worth);
// "x memcpy" = data-path CPU time per byte / memcpy CPU time per byte. Best
// of 5 rounds of >= 60 ms per thread and phase. Mallocs are counted
// (LD_PRELOAD interposer, whole process) around every data-path loop.
import BenchmarkSupport
import CSodium
import FabricAuth
#if canImport(Glibc)
import Glibc
#endif
import Handshake

let json = CommandLine.arguments.contains("--json")
let threadCounts: [Int] = CommandLine.arguments.firstIndex(of: "--threads").flatMap { i in
    i + 1 < CommandLine.arguments.count ? CommandLine.arguments[i + 1].split(separator: ",").compactMap { Int($0) } : nil
} ?? [1, 2, 4]
MallocCounter.setUp()
guard sodium_init() >= 0 else { fatalError("sodium_init failed") }

let sizes = [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20]  // the harness's --bench sizes
let rounds = 5
let minimumNanoseconds: UInt64 = 60_000_000

@inline(__always) func threadCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func label(_ bytes: Int) -> String { bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB" }
func fmt(_ v: Double, _ digits: Int = 2) -> String {
    var s = String(Int((v * pow(10, Double(digits))).rounded()))
    if digits > 0 {
        while s.count <= digits { s = "0" + s }
        s.insert(".", at: s.index(s.endIndex, offsetBy: -digits))
    }
    return s
}

/// One MAC thread's share: its own key, sender, receiver and buffers.
final class MACThread: @unchecked Sendable {  // handed to one pthread; main reads it after the join
    let size: Int
    let span: Int
    let ncclSend: UnsafeMutableRawPointer
    let shadow: UnsafeMutableRawPointer
    let ncclReceive: UnsafeMutableRawPointer
    let headers: UnsafeMutableRawPointer  // header || tag per message
    var sender: DataPathSender
    var receiver: DataPathReceiver
    let barrier: UnsafeMutablePointer<pthread_barrier_t>
    // Results of the last phase: bytes and CPU nanoseconds.
    var memcpyBytes = 0, memcpyNanoseconds: UInt64 = 0
    var pathBytes = 0, sendNanoseconds: UInt64 = 0, receiveNanoseconds: UInt64 = 0
    var messages = 0, mallocs: UInt64 = 0, rejected = 0

    static let batch = 8

    init(size: Int, barrier: UnsafeMutablePointer<pthread_barrier_t>) {
        self.size = size
        self.barrier = barrier
        span = max(16 << 20, 8 * size)
        ncclSend = .allocate(byteCount: span, alignment: 4096)
        shadow = .allocate(byteCount: span, alignment: 4096)
        ncclReceive = .allocate(byteCount: span, alignment: 4096)
        headers = .allocate(byteCount: (span / size) * DataPathLimits.frameOverhead, alignment: 64)
        randombytes_buf(ncclSend, span)
        memset(shadow, 0, span)
        memset(ncclReceive, 0, span)
        let secret = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 16)
        randombytes_buf(secret.baseAddress!, 32)
        var config = DataPathConfiguration()
        config.maxPayloadBytes = 1 << 30  // the plug-in's largest message (maxP2pBytes)
        sender = try! DataPathSender(trafficSecret: UnsafeRawBufferPointer(secret), suite: .aes256GMAC,
            direction: .initiatorToResponder, remoteQPN: 0x1234, configuration: config, now: 0)
        receiver = try! DataPathReceiver(trafficSecret: UnsafeRawBufferPointer(secret), suite: .aes256GMAC,
            direction: .initiatorToResponder, localQPN: 0x1234, configuration: config, now: 0)
        secret.deallocate()
    }

    deinit {
        ncclSend.deallocate()
        shadow.deallocate()
        ncclReceive.deallocate()
        headers.deallocate()
    }

    /// Phase 1: memcpy NCCL send buffer -> NCCL receive buffer, for >= 60 ms of CPU.
    func copyPhase() {
        pthread_barrier_wait(barrier)
        let slots = span / size
        var elapsed: UInt64 = 0, bytes = 0, i = 0
        while elapsed < minimumNanoseconds {
            let t0 = threadCPUNanoseconds()
            for _ in 0..<Self.batch {
                let off = (i % slots) * size
                memcpy(ncclReceive + off, ncclSend + off, size)
                i += 1
            }
            elapsed += threadCPUNanoseconds() - t0
            bytes += Self.batch * size
        }
        memcpyBytes = bytes
        memcpyNanoseconds = elapsed
        pthread_barrier_wait(barrier)
    }

    /// Phase 2: the plug-in's data path, send half and receive half timed apart.
    func dataPathPhase() {
        pthread_barrier_wait(barrier)
        let slots = span / size
        var sendTime: UInt64 = 0, receiveTime: UInt64 = 0, bytes = 0, i = 0, count = 0
        let m0 = MallocCounter.read()
        while sendTime + receiveTime < 2 * minimumNanoseconds {
            let first = i
            let t0 = threadCPUNanoseconds()
            for k in 0..<Self.batch {
                let off = ((first + k) % slots) * size
                let h = headers + ((first + k) % slots) * DataPathLimits.frameOverhead
                memcpy(shadow + off, ncclSend + off, size)  // isend's stage
                _ = try! sender.sealDetached(payload: UnsafeRawBufferPointer(start: shadow + off, count: size),
                    opcode: .rdmaWrite, remoteAddress: 0x7f00_0000_0000 &+ UInt64(off), rkey: 0x1234, header: h,
                    tag: h + DataPathLimits.headerSize, now: 0)
            }
            let t1 = threadCPUNanoseconds()
            for k in 0..<Self.batch {
                let off = ((first + k) % slots) * size
                let h = headers + ((first + k) % slots) * DataPathLimits.frameOverhead
                // The worker's receive: verify over the shadow, then the copy into NCCL's buffer.
                if case .rejected = receiver.openDetached(header: h, payload: UnsafeRawBufferPointer(start: shadow + off, count: size),
                                                          tag: h + DataPathLimits.headerSize, now: 0) {
                    rejected += 1
                    continue
                }
                memcpy(ncclReceive + off, shadow + off, size)
            }
            let t2 = threadCPUNanoseconds()
            sendTime += t1 - t0
            receiveTime += t2 - t1
            i += Self.batch
            count += Self.batch
            bytes += Self.batch * size
        }
        mallocs = MallocCounter.read() &- m0
        messages = count
        pathBytes = bytes
        sendNanoseconds = sendTime
        receiveNanoseconds = receiveTime
        pthread_barrier_wait(barrier)
    }
}

struct Row {
    var memcpy = 0.0, send = 0.0, receive = 0.0, path = 0.0  // GB/s per thread, CPU time
    var wall = 0.0  // GB/s of all threads together, wall clock of the data-path phase
    var mallocs: UInt64 = 0, messages = 0
}

func wallNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// K threads at one size: best of `rounds` of the per-thread average.
func measure(threads k: Int, size: Int) -> Row {
    let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
    pthread_barrier_init(barrier, nil, UInt32(k + 1))
    let jobs = (0..<k).map { _ in MACThread(size: size, barrier: barrier) }
    var best = Row()
    for _ in 0..<rounds {
        var ids: [pthread_t] = []
        for job in jobs {
            var id = pthread_t()
            let rc = pthread_create(&id, nil, { arg in
                let job = Unmanaged<MACThread>.fromOpaque(arg!).takeUnretainedValue()
                job.copyPhase()
                job.dataPathPhase()
                return nil
            }, Unmanaged.passUnretained(job).toOpaque())
            precondition(rc == 0, "pthread_create failed")
            ids.append(id)
        }
        pthread_barrier_wait(barrier)  // memcpy phase: start
        pthread_barrier_wait(barrier)  // end
        pthread_barrier_wait(barrier)  // data path: start
        let t0 = wallNanoseconds()
        pthread_barrier_wait(barrier)  // end
        let wall = Double(wallNanoseconds() - t0)
        for id in ids { pthread_join(id, nil) }
        precondition(jobs.allSatisfy { $0.rejected == 0 }, "a sealed message was rejected")
        precondition(jobs.allSatisfy { memcmp($0.ncclSend, $0.ncclReceive, $0.size) == 0 }, "bytes differ after the path")
        func average(_ f: (MACThread) -> Double) -> Double { jobs.map(f).reduce(0, +) / Double(k) }
        let r = Row(
            memcpy: average { Double($0.memcpyBytes) / Double($0.memcpyNanoseconds) },
            send: average { Double($0.pathBytes) / Double($0.sendNanoseconds) },
            receive: average { Double($0.pathBytes) / Double($0.receiveNanoseconds) },
            path: average { Double($0.pathBytes) / Double($0.sendNanoseconds + $0.receiveNanoseconds) },
            wall: Double(jobs.reduce(0) { $0 + $1.pathBytes }) / wall,
            mallocs: best.mallocs + jobs.reduce(0) { $0 + $1.mallocs },
            messages: best.messages + jobs.reduce(0) { $0 + $1.messages })
        best = Row(memcpy: max(best.memcpy, r.memcpy), send: max(best.send, r.send), receive: max(best.receive, r.receive),
                   path: max(best.path, r.path), wall: max(best.wall, r.wall), mallocs: r.mallocs, messages: r.messages)
    }
    pthread_barrier_destroy(barrier)
    barrier.deallocate()
    return best
}

let counterWorks = MallocCounter.selfCheck()
if !json {
    print("# PluginDataPathBenchmark (GB/s = payload 10^9 bytes per second of a thread's CPU time; malloc count: \(MallocCounter.method), self-check \(counterWorks ? "passed" : "FAILED"))")
    print("# MAC engine selected by this process: \(MACEngine.selected) (\(MACEngine.selectionReason)); suite AES-256-GMAC")
    print("# online CPUs: \(sysconf(Int32(_SC_NPROCESSORS_ONLN)))")
    print("")
    print("| MAC threads | size | memcpy GB/s per thread | send (stage + seal) | receive (verify + copy) | data path (both) per thread | all threads, wall clock | data path / memcpy CPU per byte | mallocs/msg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
}
for k in threadCounts {
    for size in sizes {
        let r = measure(threads: k, size: size)
        let ratio = r.memcpy / r.path
        let perMessage = Double(r.mallocs) / Double(max(r.messages, 1))
        if json {
            print("{\"threads\":\(k),\"bytes\":\(size),\"engine\":\"\(MACEngine.selected)\",\"memcpy_gbps\":\(fmt(r.memcpy, 3)),\"send_gbps\":\(fmt(r.send, 3)),\"receive_gbps\":\(fmt(r.receive, 3)),\"path_gbps\":\(fmt(r.path, 3)),\"path_all_threads_wall_gbps\":\(fmt(r.wall, 3)),\"cost_vs_memcpy\":\(fmt(ratio, 3)),\"mallocs_per_message\":\(counterWorks ? fmt(perMessage, 4) : "null")}")
        } else {
            print("| \(k) | \(label(size)) | \(fmt(r.memcpy)) | \(fmt(r.send)) | \(fmt(r.receive)) | \(fmt(r.path)) | \(fmt(r.wall)) | \(fmt(ratio))x | \(counterWorks ? fmt(perMessage, 3) : "not measured") |")
        }
    }
}
