extension ProtectionDomain {
    /// Creates a QP in RESET with its endpoint ready to hand to the peer.
    /// The QP holds this PD, both CQs and the SRQ until it is destroyed.
    public func makeQueuePair(
        sendCompletionQueue: CompletionQueue, receiveCompletionQueue: CompletionQueue,
        sharedReceiveQueue: SharedReceiveQueue? = nil, configuration: QueuePairConfiguration = QueuePairConfiguration()
    ) throws(VerbsError) -> PreparedQueuePair {
        let handle = try QueuePairHandle(pd: self, sendCompletionQueue: sendCompletionQueue,
            receiveCompletionQueue: receiveCompletionQueue, sharedReceiveQueue: sharedReceiveQueue,
            configuration: configuration)
        return try PreparedQueuePair(handle: handle)
    }

    /// Creates a QP whose send and receive completions share one CQ.
    public func makeQueuePair(
        completionQueue: CompletionQueue, configuration: QueuePairConfiguration = QueuePairConfiguration()
    ) throws(VerbsError) -> PreparedQueuePair {
        try makeQueuePair(sendCompletionQueue: completionQueue, receiveCompletionQueue: completionQueue,
            configuration: configuration)
    }
}
