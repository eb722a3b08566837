import Foundation

/// The live policy of a long-running process, reloadable from its file while running, as
/// ``RevocationStore`` is for the deny list.
///
/// A reload that fails to read or parse the file keeps the previous policy, counts the
/// failure (``failedReloadCount``) and throws the same error `fabricauth policy check`
/// prints, so a bad edit never changes who may connect. Start-up with a bad file fails.
public final class PolicyStore: @unchecked Sendable {
    /// The file reloaded from.
    public let path: String
    /// Rules added after the file's on every load (the CLI's `--allow` flags).
    public let extraRules: [PolicyRule]
    private let lock = NSLock()
    private var current: Policy
    private var generation = 0
    private var failures = 0
    private var loadedStamp: RevocationStore.FileStamp?

    /// A store reading `path`; throws if the initial load fails (start-up fails closed).
    public init(path: String, extraRules: [PolicyRule] = []) throws(IdentityError) {
        self.path = path
        self.extraRules = extraRules
        self.loadedStamp = RevocationStore.stamp(path)
        self.current = try PolicyFile.load(path: path).adding(extraRules)
    }

    /// The policy in force now.
    public var policy: Policy {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// How many times the policy was replaced by a reload.
    public var reloadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return generation
    }

    /// How many reloads failed and kept the previous policy.
    public var failedReloadCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return failures
    }

    /// Re-reads the file and swaps the policy in atomically; on error keeps the old policy,
    /// counts the failure and throws.
    @discardableResult
    public func reload() throws(IdentityError) -> Policy {
        let stamp = RevocationStore.stamp(path)
        let fresh: Policy
        do {
            fresh = try PolicyFile.load(path: path).adding(extraRules)
        } catch {
            lock.lock()
            failures += 1
            // The bad version is not reloaded again until the file changes once more.
            loadedStamp = stamp
            lock.unlock()
            throw error
        }
        lock.lock()
        current = fresh
        generation += 1
        loadedStamp = stamp
        lock.unlock()
        return fresh
    }

    /// Reloads only if the file's modification time, size or inode changed since the last
    /// attempt: cheap enough for a timer every few seconds. Returns whether it reloaded.
    @discardableResult
    public func reloadIfChanged() throws(IdentityError) -> Bool {
        lock.lock()
        let previous = loadedStamp
        lock.unlock()
        guard RevocationStore.stamp(path) != previous else { return false }
        try reload()
        return true
    }

    /// Decides with the policy in force now (see ``Policy/decide(local:peer:)``).
    public func decide(local: SPIFFEID?, peer: SPIFFEID) -> Decision {
        policy.decide(local: local, peer: peer)
    }
}
