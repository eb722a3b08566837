import CIPSecMB
import CIPSecMBShim
#if canImport(Glibc)
import Glibc
#endif

/// The library that computes AES-256-GMAC tags. Both compute the same
/// standard AES-256-GCM tag (NIST SP 800-38D §7.1) for the same key, nonce and
/// data, so the wire format and the suite number do not depend on it: a peer
/// on one engine and a peer on the other interoperate (MACEngineDifferentialTests).
///
/// The ChaCha20-Poly1305 suite always runs on libsodium.
public enum MACEngine: String, Sendable, CaseIterable, CustomStringConvertible {
    /// libsodium's crypto_aead_aes256gcm (AES-NI + PCLMULQDQ, one 16-byte
    /// GHASH block at a time in 1.0.18): about 5-5.6 GB/s per core here
    /// (docs/performance.md).
    case libsodium
    /// Intel's Multi-Buffer Crypto for IPsec (ipsec-mb 1.3), used only where
    /// it selects its AVX-512 code with VAES and VPCLMULQDQ (four AES blocks
    /// and four GHASH multiplications per instruction). Its SSE and AVX2
    /// paths are no faster than libsodium (issue 13), so they are not used.
    case ipsecMB = "ipsec-mb"

    public var description: String { rawValue }

    /// Whether this engine can run on this host. libsodium always can (AES-NI
    /// itself is the suite's requirement, CipherSuite.isAvailable); ipsec-mb
    /// only where its VAES/AVX-512 code was selected.
    public var isAvailable: Bool {
        switch self {
        case .libsodium: sodiumInitialized
        case .ipsecMB: IPSecMBManager.shared.hasVAESAVX512
        }
    }

    /// The engine this process uses for AES-256-GMAC unless a configuration
    /// names another (DataPathConfiguration.macEngine): ipsec-mb where its
    /// VAES/AVX-512 code runs, else libsodium. The environment variable
    /// FABRICAUTH_MAC_ENGINE=libsodium forces libsodium (an operator's escape
    /// hatch); =ipsec-mb asks for ipsec-mb where available. Chosen once.
    public static var selected: MACEngine { selection.engine }

    /// Why `selected` is what it is, for `fabricauth doctor` and logs, e.g.
    /// "ipsec-mb 1.3.0 selected its AVX512 code with VAES and VPCLMULQDQ".
    public static var selectionReason: String { selection.reason }

    /// Name of the environment variable that overrides the choice.
    public static let environmentVariable = "FABRICAUTH_MAC_ENGINE"

    private static let selection: (engine: MACEngine, reason: String) = {
        let probe = IPSecMBManager.shared
        let fast = probe.hasVAESAVX512
        let found = probe.summary
        guard let raw = getenv(environmentVariable) else {
            return fast ? (.ipsecMB, found) : (.libsodium, found + "; libsodium is used")
        }
        let requested = String(cString: raw)
        switch MACEngine(rawValue: requested) {
        case .libsodium:
            return (.libsodium, "\(environmentVariable)=libsodium (\(found))")
        case .ipsecMB where fast:
            return (.ipsecMB, "\(environmentVariable)=ipsec-mb (\(found))")
        case .ipsecMB:
            return (.libsodium, "\(environmentVariable)=ipsec-mb, but \(found); libsodium is used")
        case nil:
            return (fast ? .ipsecMB : .libsodium,
                    "\(environmentVariable)=\(requested) ignored (libsodium or ipsec-mb); \(found)")
        }
    }()
}

/// The process's one ipsec-mb manager, made once and read-only afterwards.
///
/// ipsec-mb's direct GCM functions take the key data and a caller's context;
/// the manager only supplies the function pointers init_mb_mgr_auto chose for
/// this CPU, so one manager serves every thread (CIPSecMBShim.c). Its memory
/// (imb_get_mb_mgr_size(), about 200 KiB in 1.3) lives for the process.
struct IPSecMBManager: @unchecked Sendable {  // immutable after init; see above
    /// nil where ipsec-mb could not be set up at all.
    let manager: UnsafeMutablePointer<IMB_MGR>?
    let arch: IMB_ARCH
    let features: UInt64
    let version: String

    static let shared = IPSecMBManager()

    private init() {
        version = String(cString: imb_get_version_str())
        var raw: UnsafeMutableRawPointer?
        // imb_get_mb_mgr_size() is "aligned to 64 bytes" (intel-ipsec-mb.h) and
        // the manager holds 64-byte aligned job queues.
        guard posix_memalign(&raw, 64, imb_get_mb_mgr_size()) == 0, let raw,
            let mgr = imb_set_pointers_mb_mgr(raw, 0, 1)
        else {
            free(raw)
            manager = nil; arch = IMB_ARCH_NONE; features = 0
            return
        }
        var chosen = IMB_ARCH_NONE
        init_mb_mgr_auto(mgr, &chosen)
        guard imb_get_errno(mgr) == 0, chosen != IMB_ARCH_NONE else {
            free(raw)
            manager = nil; arch = IMB_ARCH_NONE; features = 0
            return
        }
        manager = mgr
        arch = chosen
        features = mgr.pointee.features
    }

    /// ipsec-mb 1.3 runs GCM with VAES and VPCLMULQDQ on 512-bit registers
    /// only in its AVX512 manager and only when both features are present.
    var hasVAESAVX512: Bool {
        let needed = UInt64(IMB_FEATURE_VAES) | UInt64(IMB_FEATURE_VPCLMULQDQ)
        return manager != nil && arch == IMB_ARCH_AVX512 && features & needed == needed
    }

    /// What ipsec-mb found, in words.
    var summary: String {
        guard manager != nil else { return "ipsec-mb \(version) could not initialise" }
        let archName: String
        switch arch {
        case IMB_ARCH_NOAESNI: archName = "no-AES-NI"
        case IMB_ARCH_SSE: archName = "SSE"
        case IMB_ARCH_AVX: archName = "AVX"
        case IMB_ARCH_AVX2: archName = "AVX2"
        case IMB_ARCH_AVX512: archName = "AVX512"
        default: archName = "arch \(arch.rawValue)"
        }
        let vaes = features & UInt64(IMB_FEATURE_VAES) != 0
        let vpclmul = features & UInt64(IMB_FEATURE_VPCLMULQDQ) != 0
        let extras = [vaes ? "VAES" : "no VAES", vpclmul ? "VPCLMULQDQ" : "no VPCLMULQDQ"].joined(separator: ", ")
        return hasVAESAVX512
            ? "ipsec-mb \(version) selected its \(archName) code with VAES and VPCLMULQDQ"
            : "ipsec-mb \(version) selected its \(archName) code (\(extras)): no faster than libsodium"
    }
}
