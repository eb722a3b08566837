/// Label values in Prometheus' usual snake_case ("bad tag" -> "bad_tag",
/// "policyDenied" -> "policy_denied", "wrong QPN" -> "wrong_qpn"), from the
/// descriptions FabricAuth's reason types already have.
enum MetricLabel {
    static func value(_ reason: some CustomStringConvertible) -> String {
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
