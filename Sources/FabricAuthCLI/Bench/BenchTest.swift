/// The six perftest tests `fabricauth bench` runs, named as perftest names its
/// binaries (ib_send_lat, ib_write_bw, ...; Debian bookworm perftest 4.5).
enum BenchTest: String, CaseIterable, Codable, Sendable {
    case sendLatency = "send_lat"
    case sendBandwidth = "send_bw"
    case writeLatency = "write_lat"
    case writeBandwidth = "write_bw"
    case readLatency = "read_lat"
    case readBandwidth = "read_bw"

    enum Verb: Sendable { case send, write, read }

    var verb: Verb {
        switch self {
        case .sendLatency, .sendBandwidth: .send
        case .writeLatency, .writeBandwidth: .write
        case .readLatency, .readBandwidth: .read
        }
    }

    var isLatency: Bool { self == .sendLatency || self == .writeLatency || self == .readLatency }

    /// perftest's title line ("RDMA_Write BW Test", perftest_parameters.c ctx_print_test_info).
    var title: String {
        let verbName = switch verb {
        case .send: "Send"
        case .write: "RDMA_Write"
        case .read: "RDMA_Read"
        }
        return "\(verbName) \(isLatency ? "Latency" : "BW") Test"
    }

    /// perftest halves the round trip of ping-pong tests (send_lat, write_lat)
    /// but reports a READ's full round trip, since one READ is one exchange
    /// (perftest_parameters.c print_report_lat: rtt_factor 1 for READ, else 2).
    var roundTripFactor: Double { verb == .read ? 1 : 2 }

    /// perftest's default message size: 2 bytes for latency, 64 KiB for bandwidth.
    var defaultSize: Int { isLatency ? 2 : 65536 }

    /// perftest's default iterations: 1000 for latency, 5000 for bandwidth.
    var defaultIterations: Int { isLatency ? 1000 : 5000 }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Which paths a bench measures: `--auth off|on|both`.
enum BenchAuth: String, CaseIterable, Codable, Sendable {
    case off, on, both

    var modes: [BenchMode] {
        switch self {
        case .off: [.plain]
        case .on: [.authenticated]
        case .both: [.plain, .authenticated]
        }
    }
}

/// One measured path: raw verbs, or FabricAuth's authenticated queue pair.
enum BenchMode: String, Codable, Sendable {
    case plain
    case authenticated = "auth"
}

/// Limits perftest 4.5 enforces (perftest_parameters.h), kept so that a
/// command line perftest accepts means the same here.
enum BenchLimits {
    /// MAX_SIZE: -a runs 2 B to 8 MiB.
    static let maxSize = 8 * 1024 * 1024
    static let allSizes: [Int] = (1...23).map { 1 << $0 }
    static let iterations = 5...100_000_000
    static let txDepth = 1...15_000
    static let rxDepth = 1...16_384
    static let queuePairs = 1...16_384
    static let ibPort = 1...3
    static let gidIndex = 0...64
    static let mtus = [256, 512, 1024, 2048, 4096]
    /// perftest stops computing the peak above 20,000 iterations (its -N).
    static let peakIterations = 20_000
    /// A wait with no progress at all for this long means the peak is gone.
    static let stall: Duration = .seconds(5)
    /// How long a new control connection may take to say HELLO: a client
    /// sends it at once, and the server serves one client at a time, so an
    /// idle connection must not hold it for longer than this.
    static let hello: Duration = .seconds(5)
    /// Longest control line; a peer that sends more without a newline is not
    /// a bench client (the longest real line, END with its row, is under 1 KiB).
    static let controlLine = 64 * 1024
    /// Authenticated channels keep sendDepth + receiveDepth slots of the
    /// largest message each; the depth is capped to keep that near 32 MiB.
    static let authenticatedSlotBytes = 32 * 1024 * 1024
}

/// What the client asks for; the server follows it (only the test name must
/// agree), so a server started with perftest's usual bare command line serves
/// any sizes and iterations the client picks.
struct BenchParameters: Codable, Sendable {
    var test: BenchTest
    var sizes: [Int]
    /// Iterations per size, per QP for bandwidth tests; ignored with `duration`.
    var iterations: Int
    /// Seconds per size and mode (-D), or nil to run `iterations`.
    var duration: Int?
    var queuePairs: Int
    var auth: BenchAuth
    var txDepth: Int
    var rxDepth: Int
    var mtu: Int?
    var rdmaCM: Bool
    var reportGbits: Bool

    var maxSize: Int { sizes.max() ?? 1 }
}
