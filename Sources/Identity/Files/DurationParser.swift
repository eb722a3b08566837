import Foundation

/// Parses lifetimes such as `90m`, `24h`, `7d`, `1h30m` for `--ttl`.
public enum DurationParser {
    /// Longest lifetime accepted: 20 years (beyond that, a typo is likelier than intent).
    public static let maximum: TimeInterval = 20 * 365 * 24 * 3600

    public static func parse(_ text: String) throws(IdentityError) -> TimeInterval {
        func bad(_ why: String) -> IdentityError {
            IdentityError(.invalidDuration, "\(SPIFFEID.quoted(text)): \(why); use e.g. 30m, 24h, 7d, 1h30m")
        }
        guard !text.isEmpty, text.utf8.count <= 32 else { throw bad("empty or too long") }
        var total: TimeInterval = 0
        var number = 0
        var sawDigit = false
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                guard number < 1_000_000 else { throw bad("number too large") }
                number = number * 10 + digit
                sawDigit = true
                continue
            }
            guard sawDigit else { throw bad("a unit must follow a number") }
            let unit: TimeInterval
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: throw bad("unknown unit \"\(character)\"")
            }
            total += TimeInterval(number) * unit
            number = 0
            sawDigit = false
        }
        guard !sawDigit else { throw bad("missing unit after the last number") }
        guard total > 0 else { throw bad("must be positive") }
        guard total <= maximum else { throw bad("longer than 20 years") }
        return total
    }
}
