@testable import FabricAuth
import Testing

/// The gate that makes NCCL's concurrent first connections to one listener
/// share one full handshake (the device test runs it with real setups).
struct FirstContactGateTests {
    @Test func oneLeadsOthersWaitUntilItEnds() {
        let gate = FirstContactGate()
        var session = false
        #expect(gate.tryEnter("10.0.0.1:4000", hasSession: { session }) == .lead)
        #expect(gate.tryEnter("10.0.0.1:4000", hasSession: { session }) == .wait)
        #expect(gate.tryEnter("10.0.0.2:4000", hasSession: { session }) == .lead, "another listener has its own leader")
        session = true
        #expect(gate.tryEnter("10.0.0.1:4000", hasSession: { session }) == .proceed, "the leader's session is there")
        gate.finished("10.0.0.1:4000")
        #expect(gate.tryEnter("10.0.0.1:4000", hasSession: { session }) == .proceed)
    }

    @Test func whenTheLeaderFailsTheNextToAskLeads() {
        let gate = FirstContactGate()
        #expect(gate.tryEnter("h:1", hasSession: { false }) == .lead)
        #expect(gate.tryEnter("h:1", hasSession: { false }) == .wait)
        gate.finished("h:1")
        #expect(gate.tryEnter("h:1", hasSession: { false }) == .lead)
        #expect(gate.tryEnter("h:1", hasSession: { false }) == .wait)
    }
}
