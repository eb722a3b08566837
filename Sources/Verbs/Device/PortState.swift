import CIBVerbs

/// Logical port state (`enum ibv_port_state`, IB spec 14.2.5.6 PortInfo).
public enum PortState: UInt32, Sendable, CustomStringConvertible {
    case noChange = 0, down = 1, initializing = 2, armed = 3, active = 4, activeDefer = 5

    init(_ raw: ibv_port_state) { self = PortState(rawValue: raw.rawValue) ?? .noChange }

    public var description: String {
        String(cString: ibv_port_state_str(ibv_port_state(rawValue: rawValue)))
    }
}
