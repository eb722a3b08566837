/// The snake_case form of a reason's description, as metric labels and audit
/// fields carry it: "bad tag" is `bad_tag`, "policyDenied" is `policy_denied`,
/// "wrong QPN" is `wrong_qpn`.
public enum SnakeCase {
    public static func name(_ reason: some CustomStringConvertible) -> String {
        var out = ""
        var previousWasLower = false
        for c in reason.description {
            if c == " " || c == "-" {
                out.append("_")
                previousWasLower = false
            } else if c.isUppercase {
                if previousWasLower { out.append("_") }
                out.append(contentsOf: c.lowercased())
                previousWasLower = false
            } else {
                out.append(c)
                previousWasLower = c.isLowercase || c.isNumber
            }
        }
        return out
    }
}
