import Testing
@testable import FabricAuth

/// The table test of the Linux kernel's WireGuard nonce counter
/// (drivers/net/wireguard/selftest/counter.c, also ported in wireguard-go's
/// replay/replay_test.go), ported line by line. COUNTER_WINDOW_SIZE becomes
/// ReplayWindow.windowSize (1984) and REJECT_AFTER_MESSAGES a limit passed in.
@Suite struct ReplayWindowTests {
    static let W = ReplayWindow.windowSize
    static let rejectAfterMessages = UInt64.max - W - 1  // as the kernel's

    struct Table {
        var window = ReplayWindow()
        var step = 0
        mutating func T(_ n: UInt64, _ v: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
            step += 1
            let got = window.validate(n, limit: ReplayWindowTests.rejectAfterMessages)
            #expect(got == v, "step \(step): counter \(n) expected \(v)", sourceLocation: sourceLocation)
        }
    }

    @Test func windowGeometry() {
        #expect(ReplayWindow.windowSize == UInt64(DataPathLimits.replayRingBlocks - 1) * 64)
        #expect(ReplayWindow.ringBlocks == 32)  // the InlineArray<32, UInt64> in ReplayWindow
    }

    @Test func kernelTable() {
        let T_LIM = Self.W + 1
        let R = Self.rejectAfterMessages
        var t = Table()
        /*  1 */ t.T(0, true)
        /*  2 */ t.T(1, true)
        /*  3 */ t.T(1, false)
        /*  4 */ t.T(9, true)
        /*  5 */ t.T(8, true)
        /*  6 */ t.T(7, true)
        /*  7 */ t.T(7, false)
        /*  8 */ t.T(T_LIM, true)
        /*  9 */ t.T(T_LIM - 1, true)
        /* 10 */ t.T(T_LIM - 1, false)
        /* 11 */ t.T(T_LIM - 2, true)
        /* 12 */ t.T(2, true)
        /* 13 */ t.T(2, false)
        /* 14 */ t.T(T_LIM + 16, true)
        /* 15 */ t.T(3, false)
        /* 16 */ t.T(T_LIM + 16, false)
        /* 17 */ t.T(T_LIM * 4, true)
        /* 18 */ t.T(T_LIM * 4 - (T_LIM - 1), true)
        /* 19 */ t.T(10, false)
        /* 20 */ t.T(T_LIM * 4 - T_LIM, false)
        /* 21 */ t.T(T_LIM * 4 - (T_LIM + 1), false)
        /* 22 */ t.T(T_LIM * 4 - (T_LIM - 2), true)
        /* 23 */ t.T(T_LIM * 4 + 1 - T_LIM, false)
        /* 24 */ t.T(0, false)
        /* 25 */ t.T(R, false)
        /* 26 */ t.T(R - 1, true)
        /* 27 */ t.T(R, false)
        /* 28 */ t.T(R - 1, false)
        /* 29 */ t.T(R - 2, true)
        /* 30 */ t.T(R + 1, false)
        /* 31 */ t.T(R + 2, false)
        /* 32 */ t.T(R - 2, false)
        /* 33 */ t.T(R - 3, true)
        /* 34 */ t.T(0, false)
    }

    @Test func kernelBulk() {
        let W = Self.W
        var t = Table()
        for i in 1...W { t.T(i, true) }
        t.T(0, true)
        t.T(0, false)

        t = Table()
        for i in 2...(W + 1) { t.T(i, true) }
        t.T(1, true)
        t.T(0, false)

        t = Table()  // for (i = W + 1; i-- > 0;)
        for i in (0...W).reversed() { t.T(i, true) }

        t = Table()  // for (i = W + 2; i-- > 1;)
        for i in (1...(W + 1)).reversed() { t.T(i, true) }
        t.T(0, false)

        t = Table()  // for (i = W + 1; i-- > 1;)
        for i in (1...W).reversed() { t.T(i, true) }
        t.T(W + 1, true)
        t.T(0, false)

        t = Table()
        for i in (1...W).reversed() { t.T(i, true) }
        t.T(0, true)
        t.T(W + 1, true)
    }

    /// check() is pure: the receiver checks before the MAC and accepts after,
    /// so a checked-but-unauthentic sequence must stay usable.
    @Test func checkDoesNotMutate() {
        var w = ReplayWindow()
        #expect(w.check(5) == .fresh)
        #expect(w.check(5) == .fresh)
        #expect(w.highest == 0)
        w.accept(5)
        #expect(w.check(5) == .replayed)
        #expect(w.check(4) == .fresh)
        w.accept(5 + Self.W + 1)
        #expect(w.check(4) == .tooOld)
        #expect(w.check(5) == .tooOld)
        #expect(w.check(6) == .fresh)  // exactly windowSize behind
    }
}
