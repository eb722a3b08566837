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

    @Test func aChannelErrorIsNotWrappedAgain() {
        guard case .timedOut(let what) = ChannelError(lowering: ChannelError.timedOut("M2")) else {
            Issue.record("rewrapped")
            return
        }
        #expect(what == "M2")
    }
}
