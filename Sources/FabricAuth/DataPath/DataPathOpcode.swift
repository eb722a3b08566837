/// The operation a frame travels in; authenticated in the header so a SEND
/// can't be replayed as a WRITE or vice versa.
///
/// Contiguous frames (header || payload || tag in one SEND) carry `.send`,
/// `.sendWithImmediate` and the control messages of the RDMA WRITE/READ
/// rendezvous (encrypted, `isEncrypted`); `.rdmaWrite` and `.rdmaRead` are detached messages whose
/// payload is remote memory (docs/protocol.md "RDMA WRITE and READ").
public enum DataPathOpcode: UInt8, Sendable, CaseIterable {
    case send = 0
    case sendWithImmediate = 1
    /// RDMA WRITE: the header's remoteAddress/rkey name the target window, and
    /// the payload length is the number of bytes written there.
    case rdmaWrite = 2
    case rdmaWriteWithImmediate = 3
    /// Control: the receiver grants a memory window as the target of one WRITE.
    case writeGrant = 4
    /// Control: the data owner offers a memory window for one READ, with the
    /// detached tag of the data in it.
    case readOffer = 5
    /// Control: the reader has fetched and verified an offered window.
    case readDone = 6
    /// RDMA READ: the header the owner sealed its data under.
    case rdmaRead = 7
    /// Control: one in-band re-authentication message (A1..A4 or an alert,
    /// docs/protocol.md section 14), MAC only: its identities travel inside the
    /// message's own AEAD. Contiguous layout, any length up to the slot.
    case reauthentication = 8

    /// Whether the payload of frames of this opcode is encrypted: the
    /// rendezvous control messages, which carry rkeys and virtual addresses
    /// (AEAD, EpochKey.encryptControl; docs/protocol.md "Control frames").
    /// The opcode is in the authenticated header, so a frame cannot be
    /// switched between encrypted and MAC-only without failing its tag.
    public var isEncrypted: Bool {
        switch self {
        case .writeGrant, .readOffer, .readDone: true
        default: false
        }
    }

    /// Whether messages of this opcode use the detached layout (payload in
    /// remote memory, header and tag elsewhere).
    public var isDetached: Bool {
        switch self {
        case .rdmaWrite, .rdmaWriteWithImmediate, .rdmaRead: true
        default: false
        }
    }
}
