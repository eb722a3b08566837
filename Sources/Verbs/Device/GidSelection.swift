/// How the library picks a GID when the caller names none.
///
/// RoCE v2 with an IPv4-mapped address is what rdma_cm uses for an IPv4
/// connection, is routable, and on rxe is stable at index 1 (index 0 is the
/// link-local RoCE v2 GID, which changes with the MAC). So: the first
/// IPv4-mapped RoCE v2 entry; else the first RoCE v2 entry; else, on
/// InfiniBand, the first non-zero entry (normally index 0, the port GID).
public enum GidSelection {
    public static func defaultEntry(in table: [GidEntry]) -> GidEntry? {
        let populated = table.filter { !$0.gid.isZero }
        if let e = populated.first(where: { $0.type == .roceV2 && $0.gid.isIPv4Mapped }) { return e }
        if let e = populated.first(where: { $0.type == .roceV2 }) { return e }
        if let e = populated.first(where: { $0.type == .infiniband }) { return e }
        return populated.first
    }
}
