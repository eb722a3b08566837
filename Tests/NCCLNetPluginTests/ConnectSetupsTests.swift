import XCTest

@testable import NCCLNetPlugin

/// The table behind the setup ID in NCCL's handle, without a device: an ID
/// is only honoured if this load issued it and has not finished it.
final class ConnectSetupsTests: XCTestCase {
    func testSetupIDsAreNonZeroUniqueAndOnlyThoseIssuedAreFound() throws {
        final class Setup {}
        let setup = Setup()
        let table = ConnectSetups<Setup>()
        let a = table.start(setup)
        let b = table.start(setup)
        XCTAssertNotEqual(a, 0, "0 marks a handle whose connect has not started")
        XCTAssertNotEqual(a, b)
        XCTAssertTrue(table.find(a) === setup)
        table.finish(a)
        XCTAssertNil(table.find(a), "a finished setup's ID is not honoured again")
        XCTAssertNil(table.find(b &+ 1_000_000), "an ID this load never issued")
        table.removeAll()
        XCTAssertNil(table.find(b), "a new load drops the setups of the last")
    }
}
