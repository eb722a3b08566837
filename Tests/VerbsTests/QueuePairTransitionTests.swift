// Host tests: QP state machine diagnosis against IB spec table 91.
import XCTest
@testable import Verbs

final class QueuePairTransitionTests: XCTestCase {
    func testRCBringUpMasksAreValid() {
        XCTAssertEqual(QueuePairTransition.diagnose(from: .reset, to: .initialized, transport: .reliableConnection,
            mask: [.state, .pkeyIndex, .port, .accessFlags]), .valid)
        XCTAssertEqual(QueuePairTransition.diagnose(from: .initialized, to: .readyToReceive, transport: .reliableConnection,
            mask: [.state, .addressVector, .pathMTU, .destinationQPN, .receivePSN, .maxResponderReadAtomic, .minRNRTimer]), .valid)
        XCTAssertEqual(QueuePairTransition.diagnose(from: .readyToReceive, to: .readyToSend, transport: .reliableConnection,
            mask: [.state, .sendPSN, .timeout, .retryCount, .rnrRetry, .maxInitiatorReadAtomic]), .valid)
    }

    func testMissingAttributesAreNamed() {
        let d = QueuePairTransition.diagnose(from: .initialized, to: .readyToReceive, transport: .reliableConnection,
            mask: [.state, .addressVector, .pathMTU, .receivePSN, .maxResponderReadAtomic, .minRNRTimer])
        XCTAssertEqual(d, .missingAttributes(.destinationQPN, from: .initialized, to: .readyToReceive))
        XCTAssertEqual(d.description, "INIT -> RTR requires IBV_QP_DEST_QPN")
        let ud = QueuePairTransition.diagnose(from: .reset, to: .initialized, transport: .unreliableDatagram,
            mask: [.state, .pkeyIndex, .port, .accessFlags])
        XCTAssertEqual(ud, .missingAttributes(.qkey, from: .reset, to: .initialized))
    }

    func testInvalidTransitionsAreRefused() {
        XCTAssertEqual(QueuePairTransition.diagnose(from: .reset, to: .readyToSend, transport: .reliableConnection, mask: [.state]),
            .notAllowed(from: .reset, to: .readyToSend))
        XCTAssertEqual(QueuePairTransition.diagnose(from: .error, to: .readyToSend, transport: .reliableConnection, mask: [.state]),
            .notAllowed(from: .error, to: .readyToSend))
        // Any state may go to RESET or ERR with just the state bit.
        for s in [QueuePairState.reset, .initialized, .readyToReceive, .readyToSend, .error] {
            XCTAssertEqual(QueuePairTransition.diagnose(from: s, to: .reset, transport: .reliableConnection, mask: [.state]), .valid)
            XCTAssertEqual(QueuePairTransition.diagnose(from: s, to: .error, transport: .unreliableDatagram, mask: [.state]), .valid)
        }
    }

    func testUnexpectedAttributesAreNamed() {
        let d = QueuePairTransition.diagnose(from: .readyToReceive, to: .readyToSend, transport: .unreliableDatagram,
            mask: [.state, .sendPSN, .timeout])
        XCTAssertEqual(d, .unexpectedAttributes(.timeout, from: .readyToReceive, to: .readyToSend))
    }

    func testMaskDescription() {
        XCTAssertEqual(QueuePairAttributeMask([.state, .port]).description, "IBV_QP_STATE | IBV_QP_PORT")
        XCTAssertEqual(QueuePairAttributeMask().description, "[]")
        XCTAssertEqual(QueuePairState.readyToSend.description, "RTS")
    }
}
