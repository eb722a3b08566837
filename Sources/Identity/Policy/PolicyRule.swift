/// One authorization rule: allow or deny peers matching a selector, optionally only when
/// the local identity matches a second selector ("who may talk to whom").
public struct PolicyRule: Hashable, Sendable, CustomStringConvertible {
    /// The rule's effect.
    public enum Action: String, Hashable, Sendable {
        case allow
        case deny
    }

    /// Which SPIFFE IDs a selector covers.
    public enum Match: Hashable, Sendable, CustomStringConvertible {
        /// Exactly this ID.
        case exact(SPIFFEID)
        /// This ID or any below it, by whole path segments (`/ns/prod` covers `/ns/prod/web`, not `/ns/production`).
        case pathPrefix(SPIFFEID)
        /// Every workload of a trust domain.
        case trustDomain(String)
        /// IDs matching a segment-wise glob (``SPIFFEIDPattern``).
        case pattern(SPIFFEIDPattern)

        public func matches(_ id: SPIFFEID) -> Bool {
            switch self {
            case .exact(let wanted): id == wanted
            case .pathPrefix(let prefix): id.isEqualOrBelow(prefix)
            case .trustDomain(let domain): id.trustDomain == domain
            case .pattern(let pattern): pattern.matches(id)
            }
        }

        /// The selector's key in a policy file (`id`, `prefix`, `domain`, `pattern`).
        public var kind: String {
            switch self {
            case .exact: "id"
            case .pathPrefix: "prefix"
            case .trustDomain: "domain"
            case .pattern: "pattern"
            }
        }

        /// The selector's value as written in a policy file.
        public var value: String {
            switch self {
            case .exact(let id), .pathPrefix(let id): id.description
            case .trustDomain(let domain): domain
            case .pattern(let pattern): pattern.description
            }
        }

        public var description: String { "\(kind) \(value)" }

        /// Whether every ID `other` matches is matched by `self` too. Sound, not complete:
        /// true only when it holds; the cases it decides are listed in docs/operations.md
        /// ("Unreachable rules").
        public func covers(_ other: Match) -> Bool {
            switch (self, other) {
            case (.trustDomain(let domain), _):
                return other.trustDomainName == domain
            case (.pathPrefix(let prefix), .exact(let id)), (.pathPrefix(let prefix), .pathPrefix(let id)):
                return id.isEqualOrBelow(prefix)
            case (.pathPrefix(let prefix), .trustDomain(let domain)):
                return prefix.path.isEmpty && prefix.trustDomain == domain
            case (.pathPrefix(let prefix), .pattern(let pattern)):
                return pattern.literalPrefix.isEqualOrBelow(prefix)
            case (.exact(let id), .exact(let other)):
                return id == other
            case (.exact(let id), .pattern(let pattern)):
                return pattern.isLiteral && pattern.literalPrefix == id
            case (.exact, _):
                return false
            case (.pattern(let pattern), .exact(let id)):
                return pattern.matches(id)
            case (.pattern(let pattern), .pathPrefix(let id)):
                return pattern.isPrefixPattern && id.isEqualOrBelow(pattern.literalPrefix)
            case (.pattern(let pattern), .trustDomain(let domain)):
                return pattern.trustDomain == domain && pattern.segments == [.any]
            case (.pattern(let pattern), .pattern(let other)):
                if pattern == other { return true }
                if other.isLiteral { return pattern.matches(other.literalPrefix) }
                return pattern.isPrefixPattern && other.literalPrefix.isEqualOrBelow(pattern.literalPrefix)
            }
        }

        var trustDomainName: String {
            switch self {
            case .exact(let id), .pathPrefix(let id): id.trustDomain
            case .trustDomain(let domain): domain
            case .pattern(let pattern): pattern.trustDomain
            }
        }
    }

    /// The rule's name: unique in its policy, what decisions and `fabricauth policy explain`
    /// report. Rules of the line format are named `line-N`, `--allow` flags `--allow N`.
    public let name: String
    /// What the rule is for, in words (policy files' `description`).
    public let summary: String?
    /// Allow or deny.
    public let action: Action
    /// The peer selector.
    public let match: Match
    /// The local selector: the rule applies only while this endpoint's own ID matches it.
    /// nil: whatever the local ID.
    public let local: Match?
    /// The line of the policy file that defines the rule, if it came from one.
    public let line: Int?

    /// A rule; `name` defaults to the rule's text (`allow prefix spiffe://…`).
    public init(_ action: Action, _ match: Match, local: Match? = nil, name: String? = nil,
                summary: String? = nil, line: Int? = nil) {
        self.action = action
        self.match = match
        self.local = local
        self.name = name ?? "\(action.rawValue) \(match)"
        self.summary = summary
        self.line = line
    }

    /// Whether the rule applies to a connection between `local` (this endpoint; nil if not
    /// known, which no rule with a local selector matches) and `peer`.
    public func matches(local localID: SPIFFEID?, peer: SPIFFEID) -> Bool {
        guard match.matches(peer) else { return false }
        guard let local else { return true }
        guard let localID else { return false }
        return local.matches(localID)
    }

    /// Whether every connection `other` applies to, `self` applies to as well (see ``Match/covers(_:)``).
    public func covers(_ other: PolicyRule) -> Bool {
        guard match.covers(other.match) else { return false }
        guard let local else { return true }
        guard let otherLocal = other.local else { return false }
        return local.covers(otherLocal)
    }

    /// Whether the two rules have the same effect and selectors (names and lines aside).
    public func hasSameEffectAndSelectors(as other: PolicyRule) -> Bool {
        action == other.action && match == other.match && local == other.local
    }

    /// Parses `allow|deny id|prefix|domain VALUE`, the line format. Errors say which word is wrong.
    public init(line: some StringProtocol, name: String? = nil, lineNumber: Int? = nil) throws(IdentityError) {
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
        self.init(action, match, name: name, line: lineNumber)
    }

    /// The rule in the line format's words, plus its local selector: `allow prefix spiffe://…, local domain td`.
    public var description: String {
        "\(action.rawValue) \(match)" + (local.map { ", local \($0)" } ?? "")
    }
}
