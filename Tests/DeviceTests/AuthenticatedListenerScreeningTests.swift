// The authenticated listener's screening on a real verbs device: a client
// that breaks the endpoint exchange is refused, counted and logged once, and
// the next real client is authenticated by the same `accept`.
import Bootstrap
import Dispatch
@_spi(RawQueuePair) @testable import FabricAuth
import Foundation
import Verbs
import XCTest

extension AuthenticatedChannelTests {
    /// The unauthenticated TCP exchange is screened before any QP is made for
    /// the client: a first message without the client's token is refused
    /// (nothing answered, counted once, logged once, no error from `accept`),
    /// and a real client connecting after it is authenticated.
    func testListenerRefusesAnExchangeWithoutATokenAndServesTheNextClient() throws {
        let context = try DeviceTestSupport.openContext()
        let cluster = try Cluster()
        var server = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank0", policy: "allow domain cluster.test")
        let lines = LogLines()
        server.log = { lines.append($0) }
        let client = try cluster.configuration(id: "spiffe://cluster.test/trainer/rank1", policy: "allow domain cluster.test")
        let listener = AcceptBox(try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1"))
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            listener.result = Result { () throws(ChannelError) in try listener.listener.accept(timeout: .seconds(20)) }
            done.signal()
        }
        let pd = try context.makeProtectionDomain()
        let cq = try CompletionQueue(context: context, capacity: 4)
        let stranger = try pd.makeQueuePair(completionQueue: cq, configuration: DeviceTestSupport.configuration())
        XCTAssertThrowsError(try EndpointExchange.exchange(host: "127.0.0.1", port: listener.listener.port,
            local: ExchangeMessage(endpoint: stranger.endpoint, payload: []), timeout: .seconds(5))) { error in
            XCTAssertEqual((error as? BootstrapError)?.code, .connectionClosed, "refused without an answer: \(error)")
        }
        let connected = try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: listener.listener.port,
            configuration: client)
        done.wait()
        let accepted = try XCTUnwrap(listener.result).get()
        XCTAssertEqual(accepted.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank1")
        XCTAssertEqual(connected.peer.spiffeID.description, "spiffe://cluster.test/trainer/rank0")
        let metrics = listener.listener.bootstrapMetrics
        XCTAssertEqual(metrics[.missingClientToken], 1, "\(metrics)")
        XCTAssertEqual(metrics.clientsHandedOver, 1)
        XCTAssertEqual(lines.all.filter { $0.contains("missingClientToken") }.count, 1, "reported once: \(lines.all)")
    }
}

/// Log lines collected from the channel's log callback.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}
