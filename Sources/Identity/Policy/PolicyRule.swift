/// One authorization rule: allow or deny peers matching a SPIFFE ID pattern.
public struct PolicyRule: Hashable, Sendable, CustomStringConvertible {
    public enum Action: String, Hashable, Sendable {
        case allow
        case deny
    }

    /// Which SPIFFE IDs a rule covers.
    public enum Match: Hashable, Sendable, CustomStringConvertible {
        /// Exactly this ID.
        case exact(SPIFFEID)
        /// This ID or any below it, by whole path segments (`/ns/prod` covers `/ns/prod/web`, not `/ns/production`).
        case pathPrefix(SPIFFEID)
        /// Every workload of a trust domain.
        case trustDomain(String)

        public func matches(_ id: SPIFFEID) -> Bool {
            switch self {
            case .exact(let wanted): id == wanted
            case .pathPrefix(let prefix): id.isEqualOrBelow(prefix)
            case .trustDomain(let domain): id.trustDomain == domain
            }
        }

        public var description: String {
            switch self {
            case .exact(let id): "id \(id)"
            case .pathPrefix(let id): "prefix \(id)"
            case .trustDomain(let domain): "domain \(domain)"
            }
        }
    }

    public let action: Action
    public let match: Match

    public init(_ action: Action, _ match: Match) {
        self.action = action
        self.match = match
    }

    /// Parses `allow|deny id|prefix|domain VALUE`, the policy file's line format.
    public init(line: some StringProtocol) throws(IdentityError) {
        let words = String(line).split(whereSeparator: { (c: Character) in c == " " || c == "\t" }).map(String.init)
        guard words.count == 3, let action = Action(rawValue: words[0]) else {
            throw IdentityError(
                .malformedPolicy,
                "expected \"allow|deny id|prefix|domain VALUE\", got \(SPIFFEID.quoted(String(line)))"
            )
        }
        let match: Match
        switch words[1] {
        case "id": match = .exact(try SPIFFEID(words[2]))
        case "prefix": match = .pathPrefix(try SPIFFEID(words[2]))
        case "domain": match = .trustDomain(try SPIFFEID(trustDomain: words[2]).trustDomain)
        default:
            throw IdentityError(.malformedPolicy, "unknown match kind \(SPIFFEID.quoted(words[1])); use id, prefix or domain")
        }
        self.init(action, match)
    }

    public var description: String { "\(action.rawValue) \(match)" }
}
