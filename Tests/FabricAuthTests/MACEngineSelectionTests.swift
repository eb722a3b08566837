import Foundation
import Testing
@testable import FabricAuth

/// How the engine is chosen and reported, and that independent data paths run
/// on several threads at once.
@Suite struct MACEngineSelectionTests {
    /// The CPU flags the kernel reports (/proc/cpuinfo), read independently of
    /// ipsec-mb's own CPUID probe.
    static var cpuFlags: Set<Substring> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }

    /// ipsec-mb's fast path is taken exactly where the kernel reports the
    /// AVX-512 subsets ipsec-mb 1.3's AVX512 manager needs (F, DQ, CD, BW, VL:
    /// IMB_FEATURE_AVX512_SKX) plus VAES and VPCLMULQDQ; without
    /// FABRICAUTH_MAC_ENGINE the process selects it there and libsodium
    /// elsewhere, and says why.
    @Test func selectionFollowsTheCPU() {
        let flags = Self.cpuFlags
        let needed: [Substring] = ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "vaes", "vpclmulqdq"]
        let cpuHasIt = needed.allSatisfy(flags.contains)
        #expect(!flags.isEmpty, "no flags line in /proc/cpuinfo")
        #expect(MACEngine.ipsecMB.isAvailable == cpuHasIt, "\(MACEngine.selectionReason)")
        #expect(MACEngine.libsodium.isAvailable)
        #expect(MACEngine.selectionReason.contains("ipsec-mb 1.3"))
        if ProcessInfo.processInfo.environment[MACEngine.environmentVariable] == nil {
            #expect(MACEngine.selected == (cpuHasIt ? .ipsecMB : .libsodium))
            #expect(DataPathConfiguration().macEngine == MACEngine.selected)
        }
    }

    /// A configuration naming an engine this CPU can't run is refused with a
    /// specific error (where it can run, the same configuration validates).
    @Test func unavailableEngineIsRefused() throws {
        var c = DataPathConfiguration()
        c.macEngine = .ipsecMB
        if MACEngine.ipsecMB.isAvailable {
            #expect(throws: Never.self) { try c.validate() }
        } else {
            #expect(throws: DataPathError.macEngineUnavailable(.ipsecMB)) { try c.validate() }
            #expect(throws: DataPathError.macEngineUnavailable(.ipsecMB)) {
                _ = try EpochKey(suite: .aes256GMAC, engine: .ipsecMB, rawKey: rawBytes(secretBytes(1)))
            }
        }
    }

    /// Metrics name the engine that computes each direction's MAC; the
    /// ChaCha20-Poly1305 suite runs on libsodium whatever is configured.
    @Test(arguments: testedMACs)
    func metricsNameTheEngine(mac: TestedMAC) throws {
        let c = try mac.configure()
        let s = try DataPathSender(trafficSecret: rawBytes(secretBytes(3)), suite: mac.suite,
                                   direction: .initiatorToResponder, remoteQPN: 1, configuration: c, now: 0)
        let r = try DataPathReceiver(trafficSecret: rawBytes(secretBytes(3)), suite: mac.suite,
                                     direction: .initiatorToResponder, localQPN: 1, configuration: c, now: 0)
        #expect(s.metrics.macEngine == mac.engine && r.metrics.macEngine == mac.engine)
        if MACEngine.ipsecMB.isAvailable {
            var chacha = c
            chacha.macEngine = .ipsecMB
            let other = try DataPathSender(trafficSecret: rawBytes(secretBytes(3)), suite: .chacha20Poly1305,
                                           direction: .initiatorToResponder, remoteQPN: 1, configuration: chacha, now: 0)
            #expect(other.metrics.macEngine == .libsodium)
        }
    }

    /// Four threads, each with its own sender and receiver (independent
    /// channels), seal and open at the same time: every frame opens, and the
    /// tags equal those one thread computes for the same secrets alone.
    @Test(arguments: testedMACs)
    func independentChannelsOnSeveralThreads(mac: TestedMAC) async throws {
        let c = try mac.configure(.dropping)
        let suite = mac.suite
        @Sendable func run(channel: UInt8) throws -> [UInt8] {
            let secret = secretBytes(100 + channel)
            var s = try DataPathSender(trafficSecret: rawBytes(secret), suite: suite, direction: .initiatorToResponder,
                                       remoteQPN: UInt32(channel), configuration: c, now: 0)
            var r = try DataPathReceiver(trafficSecret: rawBytes(secret), suite: suite,
                                         direction: .initiatorToResponder, localQPN: UInt32(channel),
                                         configuration: c, now: 0)
            var tags: [UInt8] = []
            for i in 0..<2_000 {
                let frame = try s.sealFrame([UInt8](repeating: channel, count: (i * 37) % 3000))
                let opened = r.openFrame(frame)
                #expect(opened.isDelivered, "channel \(channel) frame \(i): \(opened)")
                tags += frame.suffix(16)
            }
            return tags
        }
        let alone = try (0..<4).map { try run(channel: UInt8($0)) }
        let together = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for ch in 0..<4 { group.addTask { (ch, try run(channel: UInt8(ch))) } }
            var out = [[UInt8]](repeating: [], count: 4)
            for try await (ch, tags) in group { out[ch] = tags }
            return out
        }
        #expect(together == alone)
    }
}
