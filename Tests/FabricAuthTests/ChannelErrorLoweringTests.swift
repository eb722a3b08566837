// The one adapter from lower-layer errors to ChannelError: each layer's error
// arrives whole, under its own case, exactly once (a ChannelError is not
// wrapped again).
import Bootstrap
import Handshake
import Testing
import Verbs
@testable import FabricAuth

@Suite struct ChannelErrorLoweringTests {
    @Test func eachLayerKeepsItsCaseAndCode() {
        let verbs = VerbsError(.completionFailed, function: "ibv_poll_cq")
        guard case .verbs(let v) = ChannelError(lowering: verbs) else { Issue.record("not .verbs"); return }
        #expect(v == verbs)

        let bootstrap = BootstrapError(.badMagic, function: "exchange header")
        guard case .bootstrap(let b) = ChannelError(lowering: bootstrap) else { Issue.record("not .bootstrap"); return }
        #expect(b.code == .badMagic)

        let handshake = HandshakeError(.policyDenied, "denied")
        guard case .handshake(let h) = ChannelError(lowering: handshake) else { Issue.record("not .handshake"); return }
        #expect(h == handshake)
    }

    @Test func theDataPathKeepsItsCase() {
        guard case .dataPath(let d) = ChannelError(lowering: DataPathError.payloadTooLarge(5)) else {
            Issue.record("not .dataPath")
            return
        }
        #expect(d == .payloadTooLarge(5))
    }

    /// The single-call form every call site uses: the value passes through,
    /// a typed error arrives under its layer's case.
    @Test func oneCallIsLoweredByTheSameAdapter() throws {
        #expect(try ChannelError.lowering { () throws(VerbsError) in 42 } == 42)
        let verbs = VerbsError(.completionFailed, function: "ibv_poll_cq")
        do {
            _ = try ChannelError.lowering { () throws(VerbsError) -> Int in throw verbs }
            Issue.record("did not throw")
        } catch {
            guard case .verbs(let v) = error else { Issue.record("not .verbs: \(error)"); return }
            #expect(v == verbs)
        }
        do {
            try ChannelError.lowering { () throws(ChannelError) in throw ChannelError.closed }
            Issue.record("did not throw")
        } catch {
            guard case .closed = error else { Issue.record("rewrapped: \(error)"); return }
        }
    }

    @Test func aChannelErrorIsNotWrappedAgain() {
        guard case .timedOut(let what) = ChannelError(lowering: ChannelError.timedOut("M2")) else {
            Issue.record("rewrapped")
            return
        }
        #expect(what == "M2")
    }
}
