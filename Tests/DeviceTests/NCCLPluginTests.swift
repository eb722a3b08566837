// The NCCL plug-in (libnccl-net-fabricauth.so) driven as NCCL's proxy drives
// it, by the C harness in Tests/NCCLPluginHarness: two ranks as two processes
// on the device, every byte checked. The harness is compiled here with the
// system C compiler into a scratch directory (the test bed mounts the
// checkout read-only).
@_spi(RawQueuePair) @testable import FabricAuth
import Foundation
@testable import NCCLNetPlugin
import Verbs
import XCTest

final class NCCLPluginTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The plug-in built next to this test bundle (or NCCL_PLUGIN_LIBRARY).
    static var library: URL {
        if let path = ProcessInfo.processInfo.environment["NCCL_PLUGIN_LIBRARY"] { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("libnccl-net-fabricauth.so")
    }

    static func run(_ executable: URL, _ arguments: [String], environment: [String: String], in directory: URL) throws
        -> (status: Int32, output: String)
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Identities from the CLI (rank0, rank1, and `outsider`, whom the policy
    /// does not allow), and the harness compiled beside them.
    static func prepare(_ tag: String) throws -> (directory: URL, harness: URL) {
        XCTAssertTrue(FileManager.default.fileExists(atPath: library.path), "build the plug-in first (swift build): \(library.path)")
        let dir = try CLIPingTests.makeIdentities(["rank0", "rank1", "outsider"], in: "nccl-\(tag)")
        let harness = dir.appendingPathComponent("nccl-plugin-harness")
        let built = try run(URL(fileURLWithPath: "/bin/sh"),
            [repositoryRoot.appendingPathComponent("Tests/NCCLPluginHarness/build.sh").path, harness.path],
            environment: ProcessInfo.processInfo.environment, in: dir)
        XCTAssertEqual(built.status, 0, "building the harness (needs gcc): \(built.output)")
        // Prefix rules match whole path segments, so the two ranks are named.
        try "allow id spiffe://ping.test/rank0\nallow id spiffe://ping.test/rank1\n"
            .write(to: dir.appendingPathComponent("policy"), atomically: true, encoding: .utf8)
        return (dir, harness)
    }

    /// The environment a launcher gives each rank: rank 0's identity in
    /// FABRICAUTH_*, rank 1's in HARNESS_RANK1_* (the harness forks rank 1).
    static func environment(in dir: URL, rank1: String) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["FABRICAUTH_CERT"] = dir.appendingPathComponent("rank0.pem").path
        env["FABRICAUTH_KEY"] = dir.appendingPathComponent("rank0.key").path
        env["FABRICAUTH_BUNDLE"] = dir.appendingPathComponent("ca.pem").path
        env["FABRICAUTH_POLICY"] = dir.appendingPathComponent("policy").path
        env["HARNESS_RANK1_CERT"] = dir.appendingPathComponent("\(rank1).pem").path
        env["HARNESS_RANK1_KEY"] = dir.appendingPathComponent("\(rank1).key").path
        env["FABRICAUTH_SETUP_TIMEOUT"] = "30"
        // One connect/accept step verifies a certificate chain and signs: up to
        // about 0.5 s under QEMU/TCG on a loaded host (harness.c, setup()).
        env["HARNESS_MAX_CALL_SECONDS"] = "5"
        return env
    }

    /// With two MAC workers (the default): sealing, verifying and copying off the calling thread.
    func testTwoRanksRingGroupedAndBurstAcrossTwoLoads() throws {
        try ringGroupedAndBurst(macThreads: "2", loads: 2)
    }

    /// FABRICAUTH_MAC_THREADS=0: the same run with all MAC work on the thread that calls the plug-in.
    func testTwoRanksRingGroupedAndBurstWithMACWorkInline() throws {
        try ringGroupedAndBurst(macThreads: "0", loads: 1)
    }

    func ringGroupedAndBurst(macThreads: String, loads: Int) throws {
        _ = try DeviceTestSupport.openContext()  // fail clearly without a device
        let (dir, harness) = try Self.prepare("ring")
        defer { try? FileManager.default.removeItem(at: dir) }
        // FABRICAUTH_METRICS_FILE: both ranks (rank 1 is forked with the same
        // environment) write the textfile at each finalize; either's is whole.
        var environment = Self.environment(in: dir, rank1: "rank1")
        environment["FABRICAUTH_MAC_THREADS"] = macThreads
        let textfile = dir.appendingPathComponent("nccl.prom").path
        environment["FABRICAUTH_METRICS_FILE"] = textfile
        let result = try Self.run(harness, [Self.library.path, "--loads", "\(loads)"], environment: environment, in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("harness: PASS"), result.output)
        let metrics = try String(contentsOfFile: textfile, encoding: .utf8)
        let (status, said) = try CLIMetricsTests.promtool(metrics)
        XCTAssertEqual(status, 0, "promtool on the plug-in's textfile: \(said)")
        XCTAssertGreaterThanOrEqual(CLIMetricsTests.sample("fabricauth_opened_payload_bytes_total", in: metrics) ?? 0,
            Double(4 << 20), metrics)
        XCTAssertGreaterThanOrEqual(CLIMetricsTests.sample("fabricauth_channels_closed_total", in: metrics) ?? 0, 2, metrics)
        XCTAssertTrue(metrics.contains("fabricauth_frames_rejected_total{reason=\"bad_tag\"} 0"), metrics)
        XCTAssertTrue(result.output.contains("rank 0 load 0: ncclNetPlugin_v12"), "probing finds the newest table: \(result.output)")
        for rank in 0...1 {
            // NCCL_NET_MAX_REQUESTS: 32 single receives, then 32 grouped receives of maxRecvs (8) buffers,
            // each time with a 33rd irecv answered by a NULL request (the harness fails otherwise).
            XCTAssertTrue(result.output.contains("rank \(rank) load \(loads - 1): \(32) outstanding requests passed"), result.output)
            XCTAssertTrue(result.output.contains("rank \(rank) load \(loads - 1): 32 outstanding grouped receives of 8 buffers passed"),
                result.output)
        }
        XCTAssertTrue(result.output.contains("peer spiffe://ping.test/rank1 verified"), result.output)
        XCTAssertTrue(result.output.contains("peer spiffe://ping.test/rank0 verified"), result.output)
    }

    /// NCCL opens channels x peers connections between two processes: at
    /// NCCL_DEBUG=INFO each rank names its peer's verified SPIFFE ID once, for
    /// 4 connections over 2 loads (the harness fails otherwise too); at TRACE
    /// every comm's verification is there (4 connections x 2 comms).
    func testEachPeerIsLoggedOnceAcrossConnectionsAndLoads() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try Self.prepare("peerlog")
        defer { try? FileManager.default.removeItem(at: dir) }
        var environment = Self.environment(in: dir, rank1: "rank1")
        for (level, loads) in [("INFO", 2), ("TRACE", 1)] {
            environment["NCCL_DEBUG"] = level
            let result = try Self.run(harness, [Self.library.path, "--loads", "\(loads)", "--connections", "4"],
                environment: environment, in: dir)
            XCTAssertEqual(result.status, 0, "\(level): \(result.output)")
            XCTAssertTrue(result.output.contains("harness: PASS"), result.output)
            for (rank, peer) in [(0, "rank1"), (1, "rank0")] {
                XCTAssertTrue(result.output.contains("rank \(rank) load \(loads - 1): ring of 4 KiB over 4 connections passed"),
                    result.output)
                let mine = result.output.split(separator: "\n").filter { $0.hasPrefix("rank \(rank) [") }
                let naming = mine.filter { $0.contains("spiffe://ping.test/\(peer)") }
                if level == "INFO" {
                    XCTAssertEqual(naming.count, 1, "rank \(rank) names its peer once: \(naming)")
                    XCTAssertTrue(naming.first?.contains("[INFO] NET/FabricAuth : peer spiffe://ping.test/\(peer) verified; ") ?? false,
                        "\(naming)")
                } else {
                    XCTAssertEqual(naming.filter { $0.contains("NET/FabricAuth : peer spiffe://ping.test/\(peer) verified; ") }.count,
                        8, "rank \(rank), TRACE: one line per comm: \(naming)")
                }
            }
        }
    }

    /// NCCL opens channels x peers connections between two processes, one
    /// `listen` each: every rank's listens share one listener (ProcessListener),
    /// so its first connection from a peer runs the full handshake and the
    /// rest resume. 8 connections in each of 2 loads: per rank and load one
    /// full handshake as initiator and one as responder, 14 resumed; a new
    /// load starts over (its runtime is new). Every byte is checked by the
    /// harness over every connection.
    func testLaterConnectionsBetweenTwoRanksResume() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try Self.prepare("resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        var environment = Self.environment(in: dir, rank1: "rank1")
        let textfile = dir.appendingPathComponent("nccl.prom").path
        environment["FABRICAUTH_METRICS_FILE"] = textfile
        environment["NCCL_DEBUG"] = "TRACE"
        let result = try Self.run(harness, [Self.library.path, "--loads", "2", "--connections", "8"],
            environment: environment, in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("harness: PASS"), result.output)
        let metrics = try String(contentsOfFile: textfile, encoding: .utf8)
        XCTAssertEqual(CLIMetricsTests.sample("fabricauth_handshakes_accepted_total{mode=\"full\"}", in: metrics), 4, metrics)
        XCTAssertEqual(CLIMetricsTests.sample("fabricauth_handshakes_accepted_total{mode=\"resumed\"}", in: metrics), 28, metrics)
        for rank in 0...1 {
            let mine = result.output.split(separator: "\n").filter { $0.hasPrefix("rank \(rank) [") && $0.contains(" verified; ") }
            XCTAssertEqual(mine.count, 32, "rank \(rank): a line per comm: \(mine)")
            XCTAssertEqual(mine.filter { $0.hasSuffix("(resumed)") }.count, 28, "rank \(rank): \(mine)")
        }
    }

    /// The harness's benchmark mode (bench.c), run for its output, not its
    /// figures: for every size from 4 KiB to 4 MiB a row with positive times
    /// and bandwidths through the plug-in and over plain verbs, each mode's
    /// last iteration checked byte for byte (the harness fails otherwise).
    func testBenchModeMeasuresAuthAndPlainSideBySide() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try Self.prepare("bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try Self.run(harness, [Self.library.path, "--bench", "--bench-iterations", "2", "--loads", "1"],
            environment: Self.environment(in: dir, rank1: "rank1"), in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("harness: PASS"), result.output)
        let rows = result.output.split(separator: "\n").filter { $0.hasPrefix("bench: ") }.map {
            $0.dropFirst(7).split(separator: " ").compactMap { Double($0) }
        }.filter { $0.count == 6 }
        XCTAssertEqual(rows.map { Int($0[0]) }, [4096, 16384, 65536, 262_144, 1_048_576, 4_194_304], result.output)
        for row in rows { XCTAssertTrue(row.dropFirst().allSatisfy { $0 > 0 }, "\(row): \(result.output)") }
        // Each rank counts its data path's heap allocations over the 6 sizes x 2 timed
        // iterations (zero needs a release build: docs/performance.md; CI's is debug).
        for rank in 0..<2 {
            let line = result.output.split(separator: "\n").first { $0.hasPrefix("bench-allocations: rank \(rank): ") }
            XCTAssertNotNil(line, result.output)
            let numbers = (line ?? "").split(whereSeparator: { $0 == " " || $0 == "(" }).compactMap { Int($0) }
            XCTAssertEqual(numbers.count, 3, "allocations, iterations, other threads: \(line ?? "")")
            XCTAssertEqual(numbers.dropFirst().first, 12, "\(line ?? "")")
        }
    }

    /// The harness's connection benchmark (--bench-connect), run for its
    /// output: 4 connections timed one at a time through the plug-in (the
    /// first with full handshakes, 3 resumed) and 4 plain setups of two RC
    /// QPs per rank; rank 0 prints one line with four positive figures.
    func testBenchConnectTimesResumedConnectionsAgainstPlainSetups() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try Self.prepare("bench-connect")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try Self.run(harness, [Self.library.path, "--bench-connect", "--connections", "4", "--loads", "1"],
            environment: Self.environment(in: dir, rank1: "rank1"), in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("harness: PASS"), result.output)
        let lines = result.output.split(separator: "\n").filter { $0.hasPrefix("bench-connect: load 0: first ") }
        XCTAssertEqual(lines.count, 1, result.output)
        let figures = (lines.first ?? "").split(whereSeparator: { $0 == " " || $0 == ";" }).compactMap { Double($0) }
        // first ms, 3 (later), later ms, plain ms, later/plain
        XCTAssertEqual(figures.count, 5, "\(lines)")
        XCTAssertEqual(figures.dropFirst().first, 3, "\(lines)")
        XCTAssertTrue(figures.allSatisfy { $0 > 0 }, "\(lines)")
    }

    /// v12 runs above; each older table (NCCL 2.19-2.29 pick one of them) gets the same ring, grouped and burst phases.
    func testOlderABIVersionsV8ToV11() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try Self.prepare("abi")
        defer { try? FileManager.default.removeItem(at: dir) }
        for abi in 8...11 {
            let result = try Self.run(harness, [Self.library.path, "--abi", "\(abi)", "--loads", "1"],
                environment: Self.environment(in: dir, rank1: "rank1"), in: dir)
            XCTAssertEqual(result.status, 0, "v\(abi): \(result.output)")
            XCTAssertTrue(result.output.contains("rank 1 load 0: ncclNetPlugin_v\(abi)"), result.output)
            XCTAssertTrue(result.output.contains("harness: PASS"), "v\(abi): \(result.output)")
        }
    }

    func testRankOutsideThePolicyIsRefusedAtConnectAndAccept() throws {
        _ = try DeviceTestSupport.openContext()
        let (dir, harness) = try Self.prepare("refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try Self.run(harness, [Self.library.path, "--loads", "1", "--expect-refused"],
            environment: Self.environment(in: dir, rank1: "outsider"), in: dir)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("refused as expected"), result.output)
        XCTAssertTrue(result.output.contains("spiffe://ping.test/outsider"), "the refusal names the peer: \(result.output)")
        XCTAssertFalse(result.output.contains("ring 0 B"), "no data may move: \(result.output)")
    }

    func testInitWithoutIdentityFailsAndSaysWhatToSet() throws {
        let (dir, harness) = try Self.prepare("noidentity")
        defer { try? FileManager.default.removeItem(at: dir) }
        var env = Self.environment(in: dir, rank1: "rank1")
        env["FABRICAUTH_CERT"] = nil
        env["HARNESS_RANK1_CERT"] = nil
        let result = try Self.run(harness, [Self.library.path, "--loads", "1"], environment: env, in: dir)
        XCTAssertNotEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("init failed, plug-in disabled"), result.output)
        XCTAssertTrue(result.output.contains("FABRICAUTH_CERT"), result.output)
        XCTAssertTrue(result.output.contains("FAIL") && result.output.contains("plugin_init(")
            && result.output.contains("returned 3"), "init returns ncclInternalError: \(result.output)")
    }

    /// ReDMArk's overwrite aimed at a plug-in connection, driven in this
    /// process through the plug-in's own entry points: the attacker WRITEs
    /// into the window the receive granted and forges its notice. The request
    /// fails with ncclSystemError, NCCL's buffer keeps every byte it had (the
    /// forged bytes only reached the plug-in's shadow), and the comm refuses
    /// further work. Here the MAC work runs on NCCL's (the test's) thread.
    func testForgedWriteIntoAPluginConnectionNeverReachesNCCLsBuffer() throws {
        try forgedWrite(macThreads: "0")
    }

    /// The same attack on a comm whose receives a MAC worker verifies and copies.
    func testForgedWriteIntoAPluginConnectionServedByAMACWorker() throws {
        try forgedWrite(macThreads: "2")
    }

    /// Both ends of one connection in this process: listen, then spin connect and accept.
    static func connectInProcess() -> (send: UnsafeMutableRawPointer, receive: UnsafeMutableRawPointer)? {
        var handle = [UInt8](repeating: 0, count: ListenHandle.size)
        var listenComm: UnsafeMutableRawPointer?
        XCTAssertEqual(handle.withUnsafeMutableBytes { ncclListen(nil, 0, $0.baseAddress, &listenComm) }, 0)
        var sendComm: UnsafeMutableRawPointer?
        var recvComm: UnsafeMutableRawPointer?
        let setupDeadline = Date().addingTimeInterval(60)
        while sendComm == nil || recvComm == nil, Date() < setupDeadline {
            if sendComm == nil { XCTAssertEqual(handle.withUnsafeMutableBytes { ncclConnect(nil, 0, $0.baseAddress, -1, &sendComm) }, 0) }
            if recvComm == nil { XCTAssertEqual(ncclAccept(listenComm, &recvComm), 0) }
            usleep(1000)
        }
        XCTAssertEqual(ncclCloseListen(listenComm), 0)
        guard let sendComm, let recvComm else { return nil }
        return (sendComm, recvComm)
    }

    /// NCCL may init the plug-in again (a second communicator on v8..v10, or
    /// dlclose and dlopen): the old runtime's MAC workers keep serving the
    /// comms made with it and stop, their threads joined, once those are
    /// closed (a pool joins its threads when it goes: MACWorkerTests counts them).
    func testMACWorkersOfAReplacedRuntimeStopAfterItsLastComm() throws {
        _ = try DeviceTestSupport.openContext()
        let dir = try CLIPingTests.makeIdentities(["rank0"], in: "nccl-workers")
        defer { try? FileManager.default.removeItem(at: dir) }
        let settings = ["FABRICAUTH_CERT": "rank0.pem", "FABRICAUTH_KEY": "rank0.key", "FABRICAUTH_BUNDLE": "ca.pem"]
        for (name, file) in settings { setenv(name, dir.appendingPathComponent(file).path, 1) }
        setenv("FABRICAUTH_ALLOW", "id spiffe://ping.test/rank0", 1)
        setenv("FABRICAUTH_MAC_THREADS", "3", 1)
        defer { for name in Array(settings.keys) + ["FABRICAUTH_ALLOW", "FABRICAUTH_MAC_THREADS"] { unsetenv(name) } }
        XCTAssertEqual(ncclInit(), 0)
        weak var firstPool = PluginRuntime.load()?.macWorkers
        XCTAssertEqual(firstPool?.workers.count, 3)
        guard let (sendComm, recvComm) = Self.connectInProcess() else { return XCTFail("connect/accept did not finish") }

        XCTAssertEqual(ncclInit(), 0)  // the new runtime starts 3 workers; the old one is kept by its comms
        XCTAssertNotNil(firstPool, "the open comms keep their runtime's workers")
        XCTAssertFalse(PluginRuntime.load()?.macWorkers === firstPool)
        XCTAssertEqual(ncclCloseSend(sendComm), 0)
        XCTAssertNotNil(firstPool, "one comm is still open")
        XCTAssertEqual(ncclCloseRecv(recvComm), 0)
        XCTAssertNil(firstPool, "the old runtime and its pool (threads joined) are gone with its last comm")
    }

    func forgedWrite(macThreads: String) throws {
        let context = try DeviceTestSupport.openContext()
        let dir = try CLIPingTests.makeIdentities(["rank0"], in: "nccl-forgery")
        defer { try? FileManager.default.removeItem(at: dir) }
        let settings = ["FABRICAUTH_CERT": "rank0.pem", "FABRICAUTH_KEY": "rank0.key", "FABRICAUTH_BUNDLE": "ca.pem"]
        for (name, file) in settings { setenv(name, dir.appendingPathComponent(file).path, 1) }
        setenv("FABRICAUTH_ALLOW", "id spiffe://ping.test/rank0", 1)
        setenv("FABRICAUTH_MAC_THREADS", macThreads, 1)
        defer { for name in Array(settings.keys) + ["FABRICAUTH_ALLOW", "FABRICAUTH_MAC_THREADS"] { unsetenv(name) } }
        XCTAssertEqual(ncclInit(), 0)
        guard let (sendComm, recvComm) = Self.connectInProcess() else { return XCTFail("connect/accept did not finish") }
        defer {
            XCTAssertEqual(ncclCloseSend(sendComm), 0)
            XCTAssertEqual(ncclCloseRecv(recvComm), 0)
        }
        let comm = Unmanaged<PluginComm>.fromOpaque(recvComm).takeUnretainedValue()
        XCTAssertEqual(comm.worker == nil, macThreads == "0")
        let victim = comm.channel

        let ncclBuffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { ncclBuffer.deallocate() }
        memset(ncclBuffer, 0x11, 4096)
        var mhandle: UnsafeMutableRawPointer?
        XCTAssertEqual(ncclRegMr(recvComm, ncclBuffer, 4096, 1 /* NCCL_PTR_HOST */, &mhandle), 0)
        let memory = try XCTUnwrap(mhandle)
        defer { XCTAssertEqual(ncclDeregMr(recvComm, memory), 0) }
        var data: UnsafeMutableRawPointer? = ncclBuffer
        var size = 256
        var tag: UInt32 = 7
        var mhandles: UnsafeMutableRawPointer? = memory
        var request: UnsafeMutableRawPointer?
        XCTAssertEqual(ncclIrecv(recvComm, 1, &data, &size, &tag, &mhandles, &request), 0)
        let slot = Unmanaged<RequestSlot>.fromOpaque(try XCTUnwrap(request)).takeUnretainedValue()
        if comm.worker != nil {
            // irecv only queued the request: the worker grants the window.
            let postDeadline = Date().addingTimeInterval(20)
            while slot.state.load(ordering: .acquiring) != RequestState.posted.rawValue, Date() < postDeadline { usleep(100) }
            XCTAssertEqual(slot.state.load(ordering: .acquiring), RequestState.posted.rawValue)
            // Nothing arrives for the posted receive: after its spin the worker
            // polls with pauses instead of holding a core (PluginWorkers.swift).
            let worker = comm.worker!
            while worker.pauses.load(ordering: .relaxed) == 0, Date() < postDeadline { usleep(1000) }
            XCTAssertGreaterThan(worker.pauses.load(ordering: .relaxed), 0, "a waiting worker pauses")
        }
        // The channel is the worker's while it serves the comm: look into it under the worker's lock.
        // (Unlocked before anything can throw: a held lock would stall the worker and close.)
        comm.channelLock.lock()
        let window = slot.request.flatMap { victim.window(of: $0) }
        let attack = Result { try window.map { w in
            try AttackerQueuePair(context: context, aimedAt: victim.queuePair)
                .overwrite(w, of: victim, length: 256, byte: 0x3C, sequence: 0)
        } }
        comm.channelLock.unlock()
        XCTAssertNotNil(window, "the receive's window")
        try attack.get()

        var done: Int32 = 0
        var sizes = [Int](repeating: -1, count: 8)
        var count: Int32 = 0
        var rc: Int32 = 0
        let testDeadline = Date().addingTimeInterval(20)
        while rc == 0, done == 0, Date() < testDeadline { rc = ncclTest(request, &done, &sizes, &count) }
        XCTAssertEqual(rc, 2, "ncclSystemError")
        XCTAssertEqual(done, 0)
        XCTAssertTrue(UnsafeRawBufferPointer(start: ncclBuffer, count: 4096).allSatisfy { $0 == 0x11 },
            "no forged byte reached NCCL's buffer")
        let shadow = Unmanaged<MemoryHandle>.fromOpaque(memory).takeUnretainedValue().shadow
        XCTAssertEqual(shadow.bytes[0], 0x3C, "the forged bytes did land, in the plug-in's shadow: the MAC stopped them")
        comm.channelLock.lock()
        XCTAssertEqual(victim.receiveMetrics.failures[.badTag], 1)
        XCTAssertEqual(victim.remoteAccessMetrics.writesReceived, 0)
        comm.channelLock.unlock()
        if let worker = comm.worker {
            XCTAssertGreaterThan(worker.passes.load(ordering: .relaxed), 0, "the worker polled the channel, not the test's thread")
        }

        var later: UnsafeMutableRawPointer?
        XCTAssertEqual(ncclIrecv(recvComm, 1, &data, &size, &tag, &mhandles, &later), 2, "the comm is torn down")
        XCTAssertNil(later)
    }
}
