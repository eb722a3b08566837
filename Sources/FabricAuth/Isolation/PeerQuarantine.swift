import Foundation
import Identity
import Synchronization

/// The process-wide isolation of misbehaving peers, by SPIFFE ID.
///
/// A peer is quarantined for what it is proven to have done
/// (``FailureAttribution/peerMisbehaviour``): an authentic control message
/// that broke the WRITE/READ protocol, or `deniedHandshakeThreshold`
/// handshakes the policy denied within `deniedHandshakeWindow`; by an
/// operator (``quarantine(_:reason:cause:for:now:)``); or by the shared
/// quarantine list (``apply(_:now:)``, fed by a ``QuarantineWatch``).
/// Quarantining closes every channel of that peer registered here (channels
/// whose `ChannelConfiguration.quarantine` is this object register
/// themselves) and makes every later handshake with it fail with
/// `HandshakeErrorCode.quarantined`, on the listener and the connector side,
/// until the quarantine ends by itself (`duration`) or is lifted.
///
/// Every quarantine that starts, is lifted or runs out is told to the
/// observers (``observe(_:)``; the audit trail's `quarantine` events,
/// ``AuditLog/recordQuarantines(of:)``). The expiry of a local quarantine is
/// noticed when it is next looked at (a handshake, ``active(at:)``, a
/// scrape); that of a list entry when the list is next applied; both by
/// ``expire(now:)``, which an audit log subscribed here calls on each tick.
///
/// Thread-safe. Every call that depends on time takes `now`, so expiry,
/// lifting and the denied-handshake threshold are tested on the host.
public final class PeerQuarantine: Sendable {
    public struct Configuration: Sendable {
        /// How long a quarantine this process decides on lasts.
        public var duration: Duration = .seconds(600)
        /// Policy-denied handshakes of one identity within
        /// `deniedHandshakeWindow` that quarantine it (0: never).
        public var deniedHandshakeThreshold = 5
        public var deniedHandshakeWindow: Duration = .seconds(60)

        public init() {}
    }

    /// Why a peer is quarantined (a metric label).
    public enum Cause: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Authentic messages that broke the protocol.
        case misbehaviour
        /// Too many handshakes refused by the policy.
        case deniedHandshakes = "denied_handshakes"
        /// Listed in the shared quarantine list file.
        case listFile = "list_file"
        /// Asked for through the API.
        case manual

        public var description: String { rawValue }
    }

    /// One quarantined peer.
    public struct Entry: Sendable, Equatable {
        public var id: SPIFFEID
        public var reason: String
        public var cause: Cause
        /// When it ends by itself; nil: when lifted (a list entry without expiry).
        public var until: Date?

        public func isActive(at now: Date) -> Bool { until.map { now < $0 } ?? true }
    }

    /// A quarantine that started, was lifted or ran out, as observers are told.
    public struct Change: Sendable, Equatable {
        public enum Action: String, Sendable {
            /// Decided here, a new list entry, or one in force when the observer subscribed.
            case started
            /// Lifted through ``lift(_:)``, or its entry removed from the list file.
            case lifted
            /// Its time is over.
            case expired
        }
        public var action: Action
        public var entry: Entry
        /// Started: the channels of the peer cut off (nil for one in force before the observer subscribed).
        public var channelsClosed: Int?

        public init(action: Action, entry: Entry, channelsClosed: Int? = nil) {
            self.action = action
            self.entry = entry
            self.channelsClosed = channelsClosed
        }
    }

    public typealias Observer = @Sendable (Change) -> Void

    private struct State {
        /// Decided by this process (misbehaviour, denied handshakes, manual).
        var local: [SPIFFEID: Entry] = [:]
        /// From the list file; replaced as a whole on each reload.
        var listed: [SPIFFEID: Entry] = [:]
        /// Times of recent policy denials per identity.
        var denials: [SPIFFEID: [Date]] = [:]
        /// Open channels by peer.
        var channels: [String: [ObjectIdentifier: ChannelCutoff]] = [:]
        var events: [Cause: UInt64] = [:]
        var observers: [Observer] = []
        /// Changes made under the lock, told to `observers` once it is released.
        var changes: [Change] = []

        /// Takes the changes to tell and the observers to tell them to.
        mutating func takeChanges() -> ([Change], [Observer]) {
            defer { changes.removeAll() }
            return (changes, changes.isEmpty ? [] : observers)
        }
    }

    public let configuration: Configuration
    /// Where quarantines and lifts are reported (one line each).
    public let log: (@Sendable (String) -> Void)?
    private let state = Mutex(State())

    public init(configuration: Configuration = Configuration(), log: (@Sendable (String) -> Void)? = nil) {
        self.configuration = configuration
        self.log = log
    }

    // MARK: Decisions

    /// Quarantines `id` until `now + duration` (the configured duration when
    /// nil) and cuts off its registered channels. A quarantine already in
    /// force is extended, never shortened. Returns the entry in force.
    @discardableResult
    public func quarantine(_ id: SPIFFEID, reason: String, cause: Cause = .manual, for duration: Duration? = nil,
        now: Date) -> Entry {
        let until = now.addingTimeInterval(Self.seconds(duration ?? configuration.duration))
        let (entry, cutoffs, changes, observers) = state.withLock { s in
            var entry = Entry(id: id, reason: reason, cause: cause, until: until)
            if let old = s.local[id] {
                if !old.isActive(at: now) {
                    s.changes.append(Change(action: .expired, entry: old))
                } else if let oldUntil = old.until, oldUntil > until {
                    entry.until = oldUntil
                }
            }
            s.local[id] = entry
            s.denials[id] = nil
            s.events[cause, default: 0] += 1
            let cutoffs = Array(s.channels[id.description, default: [:]].values)
            s.changes.append(Change(action: .started, entry: entry, channelsClosed: cutoffs.count))
            let (changes, observers) = s.takeChanges()
            return (entry, cutoffs, changes, observers)
        }
        log?("quarantined \(id) until \(QuarantineList.formatTime(until)) (\(cause)): \(reason); closing \(cutoffs.count) channel(s)")
        for c in cutoffs { c.cutOff(reason) }
        Self.tell(changes, observers)
        return entry
    }

    /// Lifts this process's own quarantine of `id`; false when there was
    /// none. An entry of the list file is lifted by removing it from the file.
    @discardableResult
    public func lift(_ id: SPIFFEID) -> Bool {
        let (lifted, observers) = state.withLock { s in
            (s.local.removeValue(forKey: id), s.observers)
        }
        guard let lifted else { return false }
        log?("quarantine of \(id) lifted")
        Self.tell([Change(action: .lifted, entry: lifted)], observers)
        return true
    }

    /// The quarantine in force for `id` at `now`, or nil (expired ones are dropped).
    public func entry(for id: SPIFFEID, at now: Date) -> Entry? {
        let (entry, changes, observers) = state.withLock { s in
            let entry = Self.entry(for: id, in: &s, at: now)
            let (changes, observers) = s.takeChanges()
            return (entry, changes, observers)
        }
        Self.tell(changes, observers)
        return entry
    }

    /// Drops every quarantine whose time is over at `now` and tells the
    /// observers (`expired`); returns the entries dropped.
    @discardableResult
    public func expire(now: Date) -> [Entry] {
        let (changes, observers) = state.withLock { s in
            for (id, e) in s.local where !e.isActive(at: now) {
                s.local[id] = nil
                s.changes.append(Change(action: .expired, entry: e))
            }
            for (id, e) in s.listed where !e.isActive(at: now) {
                s.listed[id] = nil
                s.changes.append(Change(action: .expired, entry: e))
            }
            return s.takeChanges()
        }
        Self.tell(changes, observers)
        return changes.map(\.entry)
    }

    /// Tells `observer` of every later change, on the thread that made it,
    /// after the state lock is released (it may call back into this object).
    /// Returns the quarantines in force now, in the same step, so a
    /// subscriber can record them without missing or repeating a change.
    /// Observers stay for the life of the quarantine.
    public func observe(_ observer: @escaping Observer, at now: Date = Date()) -> [Entry] {
        state.withLock { s in
            s.observers.append(observer)
            let ids = Set(s.local.keys).union(s.listed.keys)
            return ids.compactMap { id in
                if let e = s.local[id], e.isActive(at: now) { return e }
                if let e = s.listed[id], e.isActive(at: now) { return e }
                return nil
            }.sorted { $0.id < $1.id }
        }
    }

    /// A policy denial of the authenticated `id`: counts towards the
    /// threshold and quarantines it when reached. Returns the entry if it did.
    @discardableResult
    public func recordDeniedHandshake(_ id: SPIFFEID, reason: String, now: Date) -> Entry? {
        let threshold = configuration.deniedHandshakeThreshold
        guard threshold > 0 else { return nil }
        let since = now.addingTimeInterval(-Self.seconds(configuration.deniedHandshakeWindow))
        let count = state.withLock { s in
            var recent = s.denials[id, default: []].filter { $0 > since }
            recent.append(now)
            s.denials[id] = recent
            // Bounded: an identity that stays below the threshold keeps at most `threshold` times.
            if recent.count > threshold { s.denials[id] = Array(recent.suffix(threshold)) }
            return recent.count
        }
        guard count >= threshold else { return nil }
        return quarantine(id, reason: "\(count) handshakes denied by the policy within \(configuration.deniedHandshakeWindow) (last: \(reason))",
            cause: .deniedHandshakes, now: now)
    }

    /// Replaces the entries of the shared list with `list`'s active ones and
    /// cuts off the channels of every peer it newly lists.
    public func apply(_ list: QuarantineList, now: Date) {
        var fresh: [SPIFFEID: Entry] = [:]
        for e in list.entries.values where e.isActive(at: now) {
            fresh[e.id] = Entry(id: e.id, reason: e.reason.isEmpty ? "listed in the quarantine file" : e.reason,
                cause: .listFile, until: e.until)
        }
        let (cut, removed, changes, observers) = state.withLock {
            (s: inout State) -> ([(Entry, [ChannelCutoff])], [SPIFFEID], [Change], [Observer]) in
            let added = fresh.values.filter { s.listed[$0.id] == nil }.sorted { $0.id < $1.id }
            let removed = s.listed.values.filter { fresh[$0.id] == nil }.sorted { $0.id < $1.id }
            s.listed = fresh
            s.events[.listFile, default: 0] += UInt64(added.count)
            // An entry gone from the list whose time was over ran out; any other was lifted.
            for e in removed { s.changes.append(Change(action: e.isActive(at: now) ? .lifted : .expired, entry: e)) }
            let cut = added.map { ($0, Array(s.channels[$0.id.description, default: [:]].values)) }
            for (e, cutoffs) in cut { s.changes.append(Change(action: .started, entry: e, channelsClosed: cutoffs.count)) }
            let (changes, observers) = s.takeChanges()
            return (cut, removed.map(\.id), changes, observers)
        }
        for id in removed { log?("\(id) is no longer in the quarantine list") }
        for (entry, cutoffs) in cut {
            log?("quarantined \(entry.id) by the quarantine list: \(entry.reason); closing \(cutoffs.count) channel(s)")
            for c in cutoffs { c.cutOff(entry.reason) }
        }
        Self.tell(changes, observers)
    }

    /// Every quarantine in force at `now`, sorted by ID.
    public func active(at now: Date) -> [Entry] {
        let (active, changes, observers) = state.withLock { s in
            let ids = Set(s.local.keys).union(s.listed.keys)
            let active = ids.compactMap { Self.entry(for: $0, in: &s, at: now) }.sorted { $0.id < $1.id }
            let (changes, observers) = s.takeChanges()
            return (active, changes, observers)
        }
        Self.tell(changes, observers)
        return active
    }

    /// Quarantines started so far, by cause (a list entry counts once, when it first appears).
    public var events: [Cause: UInt64] { state.withLock { $0.events } }

    // MARK: Channels

    /// Registers a channel; returns the quarantine in force for its peer
    /// instead when there is one (the channel must not open).
    func register(_ cutoff: ChannelCutoff, peer: SPIFFEID, now: Date) -> Entry? {
        let (entry, changes, observers) = state.withLock { s in
            let entry = Self.entry(for: peer, in: &s, at: now)
            if entry == nil { s.channels[cutoff.peer, default: [:]][ObjectIdentifier(cutoff)] = cutoff }
            let (changes, observers) = s.takeChanges()
            return (entry, changes, observers)
        }
        Self.tell(changes, observers)
        return entry
    }

    func unregister(_ cutoff: ChannelCutoff) {
        state.withLock { s in
            s.channels[cutoff.peer]?[ObjectIdentifier(cutoff)] = nil
            if s.channels[cutoff.peer]?.isEmpty == true { s.channels[cutoff.peer] = nil }
        }
    }

    /// Open channels registered for `id` (tests, diagnostics).
    public func channelCount(for id: SPIFFEID) -> Int {
        state.withLock { $0.channels[id.description]?.count ?? 0 }
    }

    // MARK: Helpers

    /// The entry in force; drops (and queues an `expired` change for) a local
    /// one whose time is over. A list entry past its time stays until
    /// ``expire(now:)`` or the next ``apply(_:now:)`` reports it, so that
    /// applying the same list again never counts it as new.
    private static func entry(for id: SPIFFEID, in s: inout State, at now: Date) -> Entry? {
        if let e = s.local[id] {
            if e.isActive(at: now) { return e }
            s.local[id] = nil
            s.changes.append(Change(action: .expired, entry: e))
        }
        if let e = s.listed[id], e.isActive(at: now) { return e }
        return nil
    }

    private static func tell(_ changes: [Change], _ observers: [Observer]) {
        for change in changes {
            for observer in observers { observer(change) }
        }
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        let (s, atto) = d.components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }
}
