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
        let (entry, cutoffs) = state.withLock { s in
            var entry = Entry(id: id, reason: reason, cause: cause, until: until)
            if let old = s.local[id], old.isActive(at: now), let oldUntil = old.until, oldUntil > until {
                entry.until = oldUntil
            }
            s.local[id] = entry
            s.denials[id] = nil
            s.events[cause, default: 0] += 1
            return (entry, Array(s.channels[id.description, default: [:]].values))
        }
        log?("quarantined \(id) until \(QuarantineList.formatTime(until)) (\(cause)): \(reason); closing \(cutoffs.count) channel(s)")
        for c in cutoffs { c.cutOff(reason) }
        return entry
    }

    /// Lifts this process's own quarantine of `id`; false when there was
    /// none. An entry of the list file is lifted by removing it from the file.
    @discardableResult
    public func lift(_ id: SPIFFEID) -> Bool {
        let lifted = state.withLock { $0.local.removeValue(forKey: id) != nil }
        if lifted { log?("quarantine of \(id) lifted") }
        return lifted
    }

    /// The quarantine in force for `id` at `now`, or nil (expired ones are dropped).
    public func entry(for id: SPIFFEID, at now: Date) -> Entry? {
        state.withLock { s in Self.entry(for: id, in: &s, at: now) }
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
        let (cut, removed) = state.withLock { (s: inout State) -> ([(Entry, [ChannelCutoff])], [SPIFFEID]) in
            let added = fresh.values.filter { s.listed[$0.id] == nil }
            let removed = s.listed.keys.filter { fresh[$0] == nil }
            s.listed = fresh
            s.events[.listFile, default: 0] += UInt64(added.count)
            return (added.map { ($0, Array(s.channels[$0.id.description, default: [:]].values)) }, removed)
        }
        for id in removed.sorted() { log?("\(id) is no longer in the quarantine list") }
        for (entry, cutoffs) in cut {
            log?("quarantined \(entry.id) by the quarantine list: \(entry.reason); closing \(cutoffs.count) channel(s)")
            for c in cutoffs { c.cutOff(entry.reason) }
        }
    }

    /// Every quarantine in force at `now`, sorted by ID.
    public func active(at now: Date) -> [Entry] {
        state.withLock { s in
            let ids = Set(s.local.keys).union(s.listed.keys)
            return ids.compactMap { Self.entry(for: $0, in: &s, at: now) }.sorted { $0.id < $1.id }
        }
    }

    /// Quarantines started so far, by cause (a list entry counts once, when it first appears).
    public var events: [Cause: UInt64] { state.withLock { $0.events } }

    // MARK: Channels

    /// Registers a channel; returns the quarantine in force for its peer
    /// instead when there is one (the channel must not open).
    func register(_ cutoff: ChannelCutoff, peer: SPIFFEID, now: Date) -> Entry? {
        state.withLock { s in
            if let entry = Self.entry(for: peer, in: &s, at: now) { return entry }
            s.channels[cutoff.peer, default: [:]][ObjectIdentifier(cutoff)] = cutoff
            return nil
        }
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

    private static func entry(for id: SPIFFEID, in s: inout State, at now: Date) -> Entry? {
        if let e = s.local[id] {
            if e.isActive(at: now) { return e }
            s.local[id] = nil
        }
        if let e = s.listed[id], e.isActive(at: now) { return e }
        return nil
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        let (s, atto) = d.components
        return TimeInterval(s) + TimeInterval(atto) / 1e18
    }
}
