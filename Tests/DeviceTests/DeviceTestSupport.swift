// Shared set-up for the device tests (run inside Hardware/softroce).
//
// These tests need a real verbs device. Without one they FAIL with a message
// that says how to get one; they never skip, so a CI job that lost its rxe
// device cannot pass silently.
import Foundation
import Verbs
import XCTest

enum DeviceTestSupport {
    static var deviceName: String? { ProcessInfo.processInfo.environment["FABRICAUTH_DEVICE"] }
    static var gidIndex: Int? { ProcessInfo.processInfo.environment["FABRICAUTH_GID_INDEX"].flatMap(Int.init) }
    static var ipv4: String? { ProcessInfo.processInfo.environment["FABRICAUTH_IPV4"] }

    static let howToGetOne =
        "device tests need an RDMA device: run them inside the Soft-RoCE test bed with "
        + "`Hardware/softroce -- Hardware/device-tests`, or set FABRICAUTH_DEVICE to a real NIC (docs/softroce.md)"

    /// Opens FABRICAUTH_DEVICE (default: the first device), or fails the test.
    static func openContext(file: StaticString = #filePath, line: UInt = #line) throws -> Context {
        do {
            return try Context(deviceName: deviceName)
        } catch {
            XCTFail("cannot open an RDMA device (\(error)); \(howToGetOne)", file: file, line: line)
            throw error
        }
    }

    /// A QP configuration using the test bed's GID index.
    static func configuration(_ transport: QueuePairTransport = .reliableConnection) -> QueuePairConfiguration {
        var c = QueuePairConfiguration(transport: transport)
        c.gidIndex = gidIndex
        return c
    }
}

/// Two RC QPs on one device connected to each other (rxe loops them back),
/// each with its own CQ, sharing one PD — the shape of rc_pingpong with both
/// ends in one process.
final class LoopbackPair {
    let context: Context
    let pd: ProtectionDomain
    let cqA: CompletionQueue
    let cqB: CompletionQueue
    let a: QueuePair
    let b: QueuePair

    init(context: Context, pd: ProtectionDomain? = nil, configuration: QueuePairConfiguration = DeviceTestSupport.configuration(),
         parameters: ConnectionParameters = ConnectionParameters()) throws {
        self.context = context
        self.pd = try pd ?? context.makeProtectionDomain()
        cqA = try CompletionQueue(context: context, capacity: 256)
        cqB = try CompletionQueue(context: context, capacity: 256)
        let pa = try self.pd.makeQueuePair(completionQueue: cqA, configuration: configuration)
        let pb = try self.pd.makeQueuePair(completionQueue: cqB, configuration: configuration)
        let ea = pa.endpoint
        let eb = pb.endpoint
        a = try pa.connect(to: eb, parameters: parameters)
        b = try pb.connect(to: ea, parameters: parameters)
    }
}

extension CompletionQueue {
    /// Polls `count` completions (bounded by `timeout`) and checks each succeeded.
    @discardableResult
    func expectSuccess(_ count: Int, timeout: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line) throws -> [WorkCompletion] {
        let wcs = try poll(count: count, timeout: timeout)
        for wc in wcs { try wc.check() }
        return wcs
    }
}

extension MemoryRegion {
    /// Fills the region with a pattern derived from `seed`.
    func fill(seed: UInt8, count: Int? = nil) {
        let n = count ?? length
        for i in 0..<n { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ Int(seed)) }
    }

    /// True when the first `count` bytes match `fill(seed:)`.
    func matches(seed: UInt8, count: Int, offset: Int = 0) -> Bool {
        for i in 0..<count where bytes[offset + i] != UInt8(truncatingIfNeeded: i &* 31 &+ Int(seed)) { return false }
        return true
    }
}
