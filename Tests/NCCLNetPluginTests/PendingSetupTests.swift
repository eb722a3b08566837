import FabricAuth
import Foundation
import XCTest

@testable import NCCLNetPlugin

/// The non-blocking half of connect/accept without a device: a setup runs on
/// its own thread, the caller polls, an abandoned setup's result is dropped,
/// and a setup ID is only honoured if this process issued it.
final class PendingSetupTests: XCTestCase {
    func testTakeIsNilWhileTheSetupRunsAndReturnsTheOutcomeOnce() throws {
        let gate = DispatchSemaphore(value: 0)
        let setup = PendingSetup(name: "test-setup") {
            gate.wait()
            return Handoff(value: .failure(.timedOut("peer never answered")))
        }
        XCTAssertNil(setup.take(), "the setup is still waiting")
        gate.signal()
        let deadline = Date().addingTimeInterval(10)
        var outcome: PendingSetup.Outcome?
        while outcome == nil, Date() < deadline {
            outcome = setup.take()?.value
            usleep(1000)
        }
        guard case .failure(.timedOut(let what))? = outcome else { return XCTFail("expected the timeout, got \(String(describing: outcome))") }
        XCTAssertEqual(what, "peer never answered")
        XCTAssertNil(setup.take(), "an outcome is handed out once")
    }

    func testAnAbandonedSetupKeepsNothing() throws {
        let gate = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let setup = PendingSetup(name: "test-abandoned") {
            gate.wait()
            defer { finished.signal() }
            return Handoff(value: .failure(.closed))
        }
        setup.abandon()
        gate.signal()
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success)
        usleep(10_000)  // the thread stores (or drops) its result right after the work returns
        XCTAssertNil(setup.take(), "NCCL gave up on it: the result is dropped")
    }

    func testSetupIDsAreNonZeroUniqueAndOnlyThoseIssuedAreFound() {
        let setup = PendingSetup(name: "test-ids") { Handoff(value: .failure(.closed)) }
        let a = ConnectSetups.start(setup)
        let b = ConnectSetups.start(setup)
        XCTAssertNotEqual(a, 0, "0 marks a handle whose connect has not started")
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(ConnectSetups.find(a) === setup)
        ConnectSetups.finish(a)
        XCTAssertNil(ConnectSetups.find(a), "a finished setup's ID is not honoured again")
        XCTAssertNil(ConnectSetups.find(b &+ 1_000_000), "an ID this process never issued")
        ConnectSetups.finish(b)
    }
}
