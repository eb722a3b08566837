import Foundation

/// One bandwidth row, in perftest's units: MB/sec is MiB (2^20 bytes) per
/// second and Gb/sec 10^9 bits per second (perftest 4.5's format_factor
/// 0x100000 and 125000000), MsgRate millions of messages per second.
struct BandwidthRow: Codable, Sendable {
    var mode: BenchMode
    var bytes: Int
    var iterations: Int
    var bwPeak: Double
    var bwAverage: Double
    var msgRateMpps: Double

    /// perftest's print_report_bw: the average over the whole run (first post
    /// to last completion), and the peak as the best rate of any run of
    /// consecutive messages i...j, (tcompleted[j] - tposted[i]) / (j - i + 1).
    /// Above 20,000 messages perftest skips the O(n^2) peak (-N); so does this,
    /// reporting the average there. In -D runs the peak is the best one-second
    /// interval (`peakIntervalRate`, messages per second) instead.
    static func compute(mode: BenchMode, size: Int, iterations: Int, messages: Int,
                        posted: UnsafeMutableBufferPointer<UInt64>, completed: UnsafeMutableBufferPointer<UInt64>,
                        start: UInt64, end: UInt64, peakIntervalRate: Double?, gbits: Bool) -> BandwidthRow {
        let factor = gbits ? 125_000_000.0 : 1_048_576.0
        let seconds = Double(max(end - start, 1)) / 1e9
        let average = Double(size) * Double(messages) / seconds / factor
        var peak = average
        if let rate = peakIntervalRate {
            peak = max(average, rate * Double(size) / factor)
        } else if messages <= BenchLimits.peakIterations {
            var best = UInt64.max
            for i in 0..<messages {
                for j in i..<messages {
                    let t = (completed[j] &- posted[i]) / UInt64(j - i + 1)
                    if t < best { best = t }
                }
            }
            if best > 0 && best != .max { peak = Double(size) / (Double(best) / 1e9) / factor }
        }
        return BandwidthRow(mode: mode, bytes: size, iterations: iterations, bwPeak: peak, bwAverage: average,
            msgRateMpps: Double(messages) / seconds / 1e6)
    }
}

/// One latency row in microseconds (perftest's print_report_lat: t_typical is
/// the median, percentiles index the sorted samples).
struct LatencyRow: Codable, Sendable {
    var mode: BenchMode
    var bytes: Int
    var iterations: Int
    var tMin: Double
    var tMax: Double
    var tTypical: Double
    var tAverage: Double
    var tStdev: Double
    var p99: Double
    var p999: Double

    init(mode: BenchMode, size: Int, samples: [Double]) {
        let s = SampleStatistics(samples)
        self.mode = mode
        bytes = size
        iterations = s.count
        tMin = s.min
        tMax = s.max
        tTypical = s.median
        tAverage = s.average
        tStdev = s.standardDeviation
        p99 = s.p99
        p999 = s.p999
    }
}

enum BenchRow: Codable, Sendable {
    case bandwidth(BandwidthRow)
    case latency(LatencyRow)

    var mode: BenchMode {
        switch self {
        case .bandwidth(let r): r.mode
        case .latency(let r): r.mode
        }
    }

    var bytes: Int {
        switch self {
        case .bandwidth(let r): r.bytes
        case .latency(let r): r.bytes
        }
    }

    // Flat in JSON: a row is a bandwidth or a latency row by its keys.
    func encode(to encoder: any Encoder) throws {
        switch self {
        case .bandwidth(let r): try r.encode(to: encoder)
        case .latency(let r): try r.encode(to: encoder)
        }
    }

    init(from decoder: any Decoder) throws {
        if let r = try? LatencyRow(from: decoder) { self = .latency(r) } else { self = .bandwidth(try BandwidthRow(from: decoder)) }
    }

    /// What the ratio compares: average bandwidth, or typical latency.
    var figure: Double {
        switch self {
        case .bandwidth(let r): r.bwAverage
        case .latency(let r): r.tTypical
        }
    }
}

/// Prints results in perftest's layout (perftest_parameters.h of perftest 4.5,
/// Debian bookworm: RESULT_LINE, RESULT_FMT / RESULT_FMT_G, REPORT_FMT,
/// RESULT_FMT_LAT, REPORT_FMT_LAT), so scripts that parse perftest's rows
/// (first field a number) read these too. With --auth on or both two columns
/// follow perftest's: the mode (plain, auth) and, on each auth row, auth/plain
/// from the same run: bandwidth ratio (below 1: auth is slower) or latency
/// ratio (above 1: auth is slower). With --auth off the output has perftest's
/// columns only.
final class BenchReport {
    static let line = "---------------------------------------------------------------------------------------"
    let parameters: BenchParameters
    let device: String
    let json: Bool
    private(set) var rows: [BenchRow] = []
    private var headerPrinted = false

    init(parameters: BenchParameters, device: String, json: Bool) {
        self.parameters = parameters
        self.device = device
        self.json = json
    }

    private var extraColumns: Bool { parameters.auth != .off }

    func printHeader(role: String) {
        guard !json else { return }
        let p = parameters
        print(Self.line)
        print("                    \(p.test.title)")
        print(" Device          : \(device)\t\tRole           : \(role)")
        print(" Number of qps   : \(p.queuePairs)\t\tConnection type : RC")
        print(" TX depth        : \(p.txDepth)\t\tRX depth        : \(p.rxDepth)")
        print(" Mtu             : \(p.mtu.map { "\($0)[B]" } ?? "port's active MTU")")
        print(" Data ex. method : \(p.rdmaCM ? "rdma_cm" : "Ethernet")")
        print(" Authentication  : \(p.auth.rawValue) (FabricAuth per-message AES-256-GMAC when on)")
        print(Self.line)
    }

    func add(_ row: BenchRow) {
        rows.append(row)
        guard !json else { return }
        if !headerPrinted {
            headerPrinted = true
            print(columnsLine)
        }
        print(format(row))
        fflush(nil)
    }

    private var columnsLine: String {
        var header: String
        if parameters.test.isLatency {
            header = " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] "
        } else if parameters.reportGbits {
            header = " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]"
        } else {
            header = " #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]"
        }
        if extraColumns { header += "   mode" + (parameters.auth == .both ? "   auth/plain" : "") }
        return header
    }

    private func format(_ row: BenchRow) -> String {
        var text: String
        switch row {
        case .bandwidth(let r):
            text = String(format: " %-7lu    %-10lu       %-7.2lf            %-7.2lf\t\t   %-7.6lf",
                r.bytes, r.iterations, r.bwPeak, r.bwAverage, r.msgRateMpps)
        case .latency(let r):
            text = String(format: " %-7lu %d          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f",
                r.bytes, r.iterations, r.tMin, r.tMax, r.tTypical, r.tAverage, r.tStdev, r.p99, r.p999)
        }
        guard extraColumns else { return text }
        text += "   " + row.mode.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)
        if row.mode == .authenticated, let ratio = ratio(for: row) {
            text += String(format: "   %.2f", ratio)
        }
        return text
    }

    /// auth / plain for the row's size, when this run measured both.
    func ratio(for row: BenchRow) -> Double? {
        guard let plain = rows.last(where: { $0.mode == .plain && $0.bytes == row.bytes }), plain.figure > 0 else { return nil }
        return row.figure / plain.figure
    }

    func printFooter() {
        guard !json else { return }
        print(Self.line)
        fflush(nil)
    }

    /// The whole run as one JSON document on stdout (for --json).
    func printJSON(role: String) throws {
        guard json else { return }
        struct Ratio: Codable { var bytes: Int; var authOverPlain: Double }
        struct Document: Codable {
            var test: String
            var role: String
            var device: String
            var queuePairs: Int
            var auth: String
            var units: String
            var results: [BenchRow]
            var ratios: [Ratio]
        }
        let ratios = rows.filter { $0.mode == .authenticated }.compactMap { r in ratio(for: r).map { Ratio(bytes: r.bytes, authOverPlain: $0) } }
        let units = parameters.test.isLatency ? "usec" : (parameters.reportGbits ? "Gb/sec" : "MB/sec")
        let document = Document(test: parameters.test.rawValue, role: role, device: device, queuePairs: parameters.queuePairs,
            auth: parameters.auth.rawValue, units: units, results: rows, ratios: ratios)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(document), as: UTF8.self))
    }
}
