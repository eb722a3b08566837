// FabricAuth: per-message authentication for RDMA fabric traffic.
//
// The module sits on top of Verbs, Identity and Handshake. Its data-path crypto
// core lives in DataPath/ (see DataPath/DataPath.swift for the pipeline):
//
//   handshake result (per-direction 32-byte traffic secret, negotiated CipherSuite)
//        -> DataPathSender.seal(frame:...)    header + AES-256-GMAC tag, in place
//        -> (verbs layer posts the frame)
//        -> DataPathReceiver.open(frame:...)  checks, window, MAC, window update
//
// Wire format: docs/protocol.md, section "Data path". Numbers: docs/performance.md.
