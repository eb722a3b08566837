import ArgumentParser
import FabricAuth
import Foundation
import Verbs
import Handshake

/// `fabricauth doctor`: what RDMA this host has, and if none, what is missing.
///
/// First it names the MAC engine the data path will use on this CPU (and
/// why), since that decides how many cores the MAC needs per link.
///
/// Lists each device with its ports (state, link layer, active MTU) and the
/// GID table with each GID's type, marking the GID FabricAuth would pick.
/// With no usable device it diagnoses the usual causes in order — kernel
/// without RDMA (/sys/class/infiniband absent), no rxe link, missing provider
/// library — and exits non-zero, so scripts and CI can gate on it.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this host's RDMA devices, ports and GID tables."
    )

    @Option(name: .long, help: "Only check this device.")
    var device: String?

    func run() throws {
        for line in Self.macLines() { print(line) }
        let devices: [RDMADevice]
        do {
            devices = try RDMADevice.all()
        } catch {
            print("libibverbs: \(error)")
            devices = []
        }
        let chosen = devices.filter { device == nil || $0.name == device }
        if chosen.isEmpty {
            if let device, !devices.isEmpty {
                print("no RDMA device named '\(device)' (present: \(devices.map(\.name).joined(separator: ", ")))")
            } else {
                print("no RDMA devices found.")
            }
            for line in Self.diagnoseMissing() { print("  - \(line)") }
            throw ExitCode(1)
        }
        var healthy = false
        for dev in chosen {
            print("\(dev.name)  (\(dev.nodeType), node GUID \(String(format: "%016llx", dev.guid)))")
            do {
                let context = try Context(deviceName: dev.name)
                let attributes = try context.queryDevice()
                print("  firmware \(attributes.firmwareVersion.isEmpty ? "-" : attributes.firmwareVersion), "
                    + "max QPs \(attributes.maxQueuePairs), max WRs \(attributes.maxWorkRequestsPerQueue), "
                    + "max SGEs \(attributes.maxScatterGatherEntries), memory windows type 2: \(attributes.supportsMemoryWindowType2 ? "yes" : "no")")
                for p in 1...max(1, attributes.portCount) {
                    let port = try context.queryPort(UInt8(p))
                    print("  port \(p): \(port.state), link layer \(port.linkLayer), active MTU \(port.activeMTU) (max \(port.maxMTU)), LID \(port.lid)")
                    let table = try context.gidTable(port: UInt8(p))
                    let pick = GidSelection.defaultEntry(in: table)
                    if table.isEmpty { print("    GID table empty (netdev without an IP address?)") }
                    for entry in table {
                        let mark = entry.index == pick?.index ? "  <- default" : ""
                        print("    GID[\(entry.index)] \(entry.gid)  \(entry.type)\(mark)")
                    }
                    if port.state == .active && pick != nil { healthy = true }
                }
            } catch {
                print("  error: \(error)")
            }
        }
        if !healthy {
            print("no active port with a usable GID.")
            throw ExitCode(1)
        }
    }

    /// The per-message MAC on this host: the suite a handshake offers first,
    /// and which library computes AES-256-GMAC, with the reason.
    static func macLines() -> [String] {
        guard CipherSuite.aes256GMAC.isAvailable else {
            return ["MAC: \(CipherSuite.preferred) (no AES-NI/PCLMULQDQ on this CPU, so no AES-256-GMAC)"]
        }
        return [
            "MAC: \(CipherSuite.aes256GMAC) on \(MACEngine.selected)",
            "  engine: \(MACEngine.selectionReason)",
        ]
    }

    /// Reasons a host shows no RDMA device, most fundamental first.
    static func diagnoseMissing() -> [String] {
        let fm = FileManager.default
        var out: [String] = []
        if !fm.fileExists(atPath: "/sys/class/infiniband") {
            out.append("the kernel has no RDMA support: /sys/class/infiniband is absent "
                + "(needs CONFIG_INFINIBAND; for Soft-RoCE load rdma_rxe: `modprobe rdma_rxe`)")
        } else if ((try? fm.contentsOfDirectory(atPath: "/sys/class/infiniband")) ?? []).isEmpty {
            let netdev = firstNetdev() ?? "IF"
            out.append("no RDMA link: for Soft-RoCE create one with `rdma link add rxe0 type rxe netdev \(netdev)`")
        }
        let drivers = (try? fm.contentsOfDirectory(atPath: "/etc/libibverbs.d")) ?? []
        if drivers.isEmpty {
            out.append("no verbs provider libraries: /etc/libibverbs.d is empty or absent (install `ibverbs-providers`)")
        }
        if !fm.fileExists(atPath: "/dev/infiniband/uverbs0") && fm.fileExists(atPath: "/sys/class/infiniband") {
            out.append("/dev/infiniband/uverbs0 is missing (load ib_uverbs: `modprobe ib_uverbs`)")
        }
        if out.isEmpty { out.append("devices exist in sysfs but libibverbs lists none: check provider libraries and permissions on /dev/infiniband") }
        return out
    }

    /// An Ethernet-like netdev to suggest for `rdma link add` (not lo).
    static func firstNetdev() -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).sorted()
        return names.first { $0 != "lo" }
    }
}
