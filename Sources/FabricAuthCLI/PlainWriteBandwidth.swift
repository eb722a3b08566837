import Verbs

/// Plain verbs RDMA WRITE throughput between two RC QPs on one device (the
/// target registered for remote write, as perftest's write_bw does), for the
/// demo's side-by-side comparison with authenticated WRITEs: same sizes, same
/// number in flight.
enum PlainWriteBandwidth {
    static func measure(context: Context, gidIndex: Int?, messages: Int, size: Int, window: Int) throws -> Double {
        let pd = try context.makeProtectionDomain()
        let cqA = try CompletionQueue(context: context, capacity: window + 1)
        let cqB = try CompletionQueue(context: context, capacity: 2)
        var configuration = QueuePairConfiguration(transport: .reliableConnection)
        configuration.gidIndex = gidIndex
        configuration.accessFlags = [.remoteWrite]
        let preparedA = try pd.makeQueuePair(completionQueue: cqA, configuration: configuration)
        let preparedB = try pd.makeQueuePair(completionQueue: cqB, configuration: configuration)
        let endpointA = preparedA.endpoint
        let endpointB = preparedB.endpoint
        let source = try pd.allocateRegion(bytes: size)
        let sink = try pd.allocateRegion(bytes: size * window, access: [.localWrite, .remoteWrite])
        let a = try preparedA.connect(to: endpointB)
        let b = try preparedB.connect(to: endpointA)  // the target: kept until the end
        let clock = ContinuousClock()
        let start = clock.now
        var sent = 0
        while sent < messages {
            let n = min(window, messages - sent)
            for i in 0..<n {
                try a.post(SendRequest(id: UInt64(i), operation: .write(sink.remote(i * size..<(i + 1) * size)),
                                       element: source.element(0..<size)))
            }
            for wc in try cqA.poll(count: n, timeout: .seconds(30)) { try wc.check() }
            sent += n
        }
        let rate = DemoCommand.megabytesPerSecond(bytes: messages * size, elapsed: start.duration(to: clock.now))
        withExtendedLifetime(b) {}
        return rate
    }
}
