import Verbs

/// Plain verbs SEND throughput between two RC QPs on one device, for the
/// side-by-side comparison with authenticated SENDs: same sizes, same windows.
enum PlainSendBandwidth {
    static func measure(context: Context, gidIndex: Int?, messages: Int, size: Int) throws -> Double {
        let window = 16
        let pd = try context.makeProtectionDomain()
        let cqA = try CompletionQueue(context: context, capacity: window + 1)
        let cqB = try CompletionQueue(context: context, capacity: window + 1)
        var configuration = QueuePairConfiguration(transport: .reliableConnection)
        configuration.gidIndex = gidIndex
        configuration.accessFlags = []
        let preparedA = try pd.makeQueuePair(completionQueue: cqA, configuration: configuration)
        let preparedB = try pd.makeQueuePair(completionQueue: cqB, configuration: configuration)
        let endpointA = preparedA.endpoint
        let endpointB = preparedB.endpoint
        let source = try pd.allocateRegion(bytes: size)
        let sink = try pd.allocateRegion(bytes: size * window, access: .localWrite)
        let receives = (0..<window).map { ReceiveRequest(id: UInt64($0), element: sink.element($0 * size..<($0 + 1) * size)) }
        let a = try preparedA.connect(to: endpointB)
        let b = try preparedB.connect(to: endpointA, receives: receives)
        let clock = ContinuousClock()
        let start = clock.now
        var sent = 0
        while sent < messages {
            let n = min(window, messages - sent)
            for i in 0..<n { try a.post(SendRequest(id: UInt64(i), operation: .send, element: source.element(0..<size))) }
            for wc in try cqB.poll(count: n, timeout: .seconds(30)) {
                try wc.check()
                try b.post(receives[Int(wc.id)])
            }
            for wc in try cqA.poll(count: n, timeout: .seconds(30)) { try wc.check() }
            sent += n
        }
        return DemoCommand.megabytesPerSecond(bytes: messages * size, elapsed: start.duration(to: clock.now))
    }
}
