// Host tests: error values, the C-call seam, and what needs no device.
#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import Verbs

final class VerbsErrorTests: XCTestCase {
    func testDescriptionNamesCallErrnoAndLocation() {
        let e = VerbsError(.callFailed, function: "ibv_modify_qp", errno: EINVAL, reason: "QP 17 INIT -> RTR")
        XCTAssertEqual(e.errnoText, String(cString: strerror(EINVAL)))
        XCTAssertTrue(e.description.hasPrefix("VerbsError.callFailed: ibv_modify_qp failed: "), e.description)
        XCTAssertTrue(e.description.contains("(errno \(EINVAL))"))
        XCTAssertTrue(e.description.contains("QP 17 INIT -> RTR"))
        XCTAssertTrue(e.description.contains("VerbsErrorTests.swift:"), e.description)
    }

    func testCompletionErrorCarriesStatusText() {
        var wc = WorkCompletion()
        wc.id = 5
        wc.status = .remoteAccessError
        wc.queuePairNumber = 0x11
        XCTAssertThrowsError(try wc.check()) { error in
            let e = error as! VerbsError
            XCTAssertEqual(e.code, .completionFailed)
            XCTAssertEqual(e.function, "ibv_poll_cq")
            XCTAssertEqual(e.completionStatus, .remoteAccessError)
            XCTAssertTrue(e.description.contains("remote access error"), e.description)
            XCTAssertTrue(e.description.contains("wr_id 5"), e.description)
        }
        XCTAssertEqual(CompletionStatus.retryExceeded.description, "transport retry counter exceeded")
        XCTAssertEqual(CompletionStatus.success.description, "success")
        XCTAssertNoThrow(try WorkCompletion().check())
    }

    func testEqualityIgnoresLocation() {
        let a = VerbsError(.timedOut, function: "ibv_poll_cq", line: 1)
        let b = VerbsError(.timedOut, function: "ibv_poll_cq", line: 2)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, VerbsError(.timedOut, function: "rdma_get_cm_event"))
        XCTAssertEqual(VerbsError.Code.sendQueueFull.description, "sendQueueFull")
    }

    /// The seam reads both of rdma-core's conventions.
    func testCallSeamConventions() {
        XCTAssertNoThrow(try VerbsCall.check("ibv_modify_qp", .returnsErrno) { 0 })
        XCTAssertThrowsError(try VerbsCall.check("ibv_modify_qp", .returnsErrno) { EINVAL }) { error in
            let e = error as! VerbsError
            XCTAssertEqual(e.function, "ibv_modify_qp")
            XCTAssertEqual(e.errno, EINVAL)
        }
        XCTAssertThrowsError(try VerbsCall.check("rdma_listen", .minusOneSetsErrno) { errno = EADDRINUSE; return -1 }) { error in
            XCTAssertEqual((error as! VerbsError).errno, EADDRINUSE)
        }
        XCTAssertThrowsError(try VerbsCall.pointer("ibv_alloc_pd") { () -> UnsafeMutableRawPointer? in errno = ENOMEM; return nil }) { error in
            let e = error as! VerbsError
            XCTAssertEqual(e.function, "ibv_alloc_pd")
            XCTAssertEqual(e.errno, ENOMEM)
        }
    }

    func testPostFailureMapsENOMEMToQueueFull() {
        let full = WorkRequestStorage.postFailure("ibv_post_send", ENOMEM, failedIndex: 3, queueFull: .sendQueueFull)
        XCTAssertEqual(full.code, .sendQueueFull)
        XCTAssertTrue(full.reason.contains("request 3"))
        let other = WorkRequestStorage.postFailure("ibv_post_recv", EINVAL, failedIndex: 0, queueFull: .receiveQueueFull)
        XCTAssertEqual(other.code, .callFailed)
    }

    /// On a host without RDMA (or without that device), opening by name fails
    /// with `.deviceNotFound` and says which devices exist.
    func testOpeningANonexistentDeviceFails() {
        XCTAssertThrowsError(try Context(deviceName: "no-such-device-\(getpid())")) { error in
            let e = error as! VerbsError
            XCTAssertEqual(e.code, .deviceNotFound, "\(e)")
            XCTAssertEqual(e.function, "ibv_get_device_list")
        }
    }

    func testDurationMilliseconds() {
        XCTAssertEqual(Duration.seconds(2).milliseconds, 2000)
        XCTAssertEqual(Duration.microseconds(1).milliseconds, 1)
        XCTAssertEqual(Duration.zero.milliseconds, 0)
        XCTAssertEqual(Duration.seconds(1_000_000_000).milliseconds, Int32.max)
    }
}
