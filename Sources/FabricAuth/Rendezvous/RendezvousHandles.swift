/// A grouped receive (`irecv` of up to ``Rendezvous/maxBuffersPerReceive``
/// buffers): slot `index` of the machine's receive table at `generation`.
struct ReceiveHandle: Hashable, Sendable {
    let index: Int
    let generation: UInt32
}

/// An `offerForRead`: offer (and READ offer window) `index` at `generation`.
struct OfferHandle: Hashable, Sendable {
    let index: Int
    let generation: UInt32
}

/// An `iread`: slot `index` of the machine's read table at `generation`.
struct ReadHandle: Hashable, Sendable {
    let index: Int
    let generation: UInt32
}

/// One buffer of a grouped receive as the machine sees it: room for
/// `capacity` bytes from a WRITE matched by `tag`.
struct ReceiveSlotSpec: Hashable, Sendable {
    var capacity: Int
    var tag: UInt32
}

/// The peer's grant of one WRITE target, as it arrived (verified).
struct PeerGrant: Equatable, Sendable {
    var index: UInt32
    var generation: UInt32
    var tag: UInt32
    var key: WindowKey
    var capacity: Int
}

/// The peer's offer of one READ, as it arrived (verified). The offered
/// data's detached header and tag are kept by the channel in record `slot`.
struct PeerOffer: Equatable, Sendable {
    var index: UInt32
    var generation: UInt32
    var tag: UInt32
    var key: WindowKey
    var length: Int
}

/// Why a request ended without data.
enum RequestFailure: Equatable, Sendable {
    /// A WRITE or READ into it failed verification (never delivered).
    case rejected(RejectReason, tornDown: Bool)
    /// The application cancelled it.
    case cancelled
    /// Its deadline passed before it completed.
    case timedOut
    /// The channel closed.
    case closed
}

/// What `poll` reports about a request.
enum RequestProgress: Equatable, Sendable {
    case pending
    /// Done: bytes per buffer in request order (one entry except for grouped receives).
    case completed(ReceiveSizes)
    case failed(RequestFailure)
}
