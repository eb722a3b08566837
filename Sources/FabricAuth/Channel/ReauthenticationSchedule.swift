import Foundation
import Identity

/// When a live channel starts an in-band re-authentication (docs/protocol.md
/// section 14), decided from certificate times and the wall clock passed in:
/// no I/O, no timer. The channel asks ``reason(now:presented:newest:peer:)``
/// at most once per check interval from its send and progress paths.
///
/// Three triggers, each fired at most once per certificate, so a source that
/// is not rotated (the same leaf re-presented) never makes the channel loop:
/// - **credential reloaded**: the newest local credential's leaf differs from
///   the one this side last presented to the peer;
/// - **own lifetime**: the presented leaf passed `ownLifetimeFraction` of its
///   validity (default 2/3: a source rotated by SPIRE at half-life is picked
///   up in time, and one that is not still leaves a third for a retry);
/// - **peer expiring**: the peer's leaf passed `peerLifetimeFraction` (default
///   5/6) and has not been replaced: this side asks, and the peer answers with
///   its newest credential. A peer with none is cut off at its notAfter by
///   the trust recheck (`peer certificate expired`).
struct ReauthenticationSchedule {
    /// A certificate's validity as the schedule needs it.
    struct Validity: Equatable {
        var fingerprint: Fingerprint
        var notBefore: Date
        var notAfter: Date

        /// The instant `fraction` of the validity has passed.
        func point(_ fraction: Double) -> Date {
            notBefore + max(0, notAfter.timeIntervalSince(notBefore)) * fraction
        }
    }

    enum Reason: String, Equatable, CustomStringConvertible {
        case credentialReloaded = "credential_reloaded"
        case ownLifetime = "own_certificate_lifetime"
        case peerExpiring = "peer_certificate_expiring"
        case requested

        var description: String { rawValue }
    }

    let ownLifetimeFraction: Double
    let peerLifetimeFraction: Double
    /// Leaves the triggers already fired for (own lifetime, peer expiring).
    private var ownLifetimeFiredFor: Fingerprint?
    private var peerExpiringFiredFor: Fingerprint?

    init(ownLifetimeFraction: Double = 2.0 / 3.0, peerLifetimeFraction: Double = 5.0 / 6.0) {
        self.ownLifetimeFraction = ownLifetimeFraction
        self.peerLifetimeFraction = peerLifetimeFraction
    }

    /// Why a re-authentication should start now, or nil. `presented` is the
    /// leaf this side last showed the peer (handshake or re-authentication),
    /// `newest` the credential a new run would present, `peer` the peer's
    /// leaf as last verified. Marks the trigger as fired.
    mutating func reason(now: Date, presented: Validity, newest: Validity, peer: Validity) -> Reason? {
        if newest.fingerprint != presented.fingerprint {
            return .credentialReloaded
        }
        if now >= presented.point(ownLifetimeFraction), ownLifetimeFiredFor != presented.fingerprint {
            ownLifetimeFiredFor = presented.fingerprint
            return .ownLifetime
        }
        if now >= peer.point(peerLifetimeFraction), peerExpiringFiredFor != peer.fingerprint {
            peerExpiringFiredFor = peer.fingerprint
            return .peerExpiring
        }
        return nil
    }
}
