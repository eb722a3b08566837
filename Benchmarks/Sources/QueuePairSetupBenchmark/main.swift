// QP setups per second between two endpoints on one device: plain RC QPs
// against authenticated ones (full handshake, and resumed from a cached
// session), measured side by side in one run.
//
//   Hardware/softroce -- .build-bench/release/QueuePairSetupBenchmark [COUNT]
//
// Every setup does the same verbs work: both QPs go RESET -> RTS after a TCP
// exchange of endpoints, and one message crosses before teardown. The
// authenticated ones add the in-band handshake (docs/protocol.md).
import Bootstrap
import Dispatch
import FabricAuth
import Foundation
import Handshake
import Identity
import Verbs

let count = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 1000 : 1000
let environment = ProcessInfo.processInfo.environment
let context = try Context(deviceName: environment["FABRICAUTH_DEVICE"])
let gidIndex = environment["FABRICAUTH_GID_INDEX"].flatMap(Int.init)

let domain = "bench.fabricauth.test"
let authority = try CertificateAuthority.create(trustDomain: domain).authority
let verifier = IdentityVerifier(bundles: [try TrustBundle(trustDomain: domain, anchors: [authority.certificate])])

func configuration(_ id: String) throws -> ChannelConfiguration {
    let issued = try authority.issue(id: try SPIFFEID("spiffe://\(domain)/\(id)"), ttl: 3600)
    var c = ChannelConfiguration(credential: try Credential(chain: issued.chain, privateKey: issued.privateKey),
        verifier: verifier, policy: try Policy(text: "allow domain \(domain)"))
    c.gidIndex = gidIndex
    c.maxMessageSize = 4096
    c.sendDepth = 4
    // Set-up only: one request keeps 4 receive slots enough.
    c.remoteAccessDepth = 1
    c.receiveDepth = c.minimumReceiveDepth
    return c
}

final class Box<T>: @unchecked Sendable { var value: T?; init() {} }

func elapsedSeconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let (s, atto) = start.duration(to: clock.now).components
    return Double(s) + Double(atto) / 1e18
}

/// Plain: the same TCP exchange and RC bring-up, one SEND, no handshake.
func plainSetups(_ n: Int) throws -> Double {
    // perftest's exchange carries no token; neither does this baseline.
    var screening = EndpointExchangeListener.Configuration()
    screening.clientTokenSize = 0
    let listener = try EndpointExchangeListener(address: "127.0.0.1", configuration: screening)
    let port = listener.port
    return try elapsedSeconds {
        for _ in 0..<n {
            let pd = try context.makeProtectionDomain()
            let cqA = try CompletionQueue(context: context, capacity: 8)
            let cqB = try CompletionQueue(context: context, capacity: 8)
            var qc = QueuePairConfiguration(transport: .reliableConnection)
            qc.gidIndex = gidIndex
            qc.accessFlags = []
            let a = try pd.makeQueuePair(completionQueue: cqA, configuration: qc)
            let b = try pd.makeQueuePair(completionQueue: cqB, configuration: qc)
            let region = try pd.allocateRegion(bytes: 4096)
            let endpointB = b.endpoint
            let served = Box<ExchangeMessage>()
            let done = DispatchSemaphore(value: 0)
            let serverListener = UncheckedListener(listener)
            Thread.detachNewThread {
                served.value = try? serverListener.listener.exchange(local: ExchangeMessage(endpoint: endpointB))
                done.signal()
            }
            let peer = try EndpointExchange.exchange(host: "127.0.0.1", port: port, local: ExchangeMessage(endpoint: a.endpoint))
            done.wait()
            guard let fromA = served.value else { fatalError("exchange failed") }
            let qa = try a.connect(to: peer.endpoint)
            let qb = try b.connect(to: fromA.endpoint, receives: [ReceiveRequest(id: 1, element: region.element(2048..<4096))])
            try qa.post(SendRequest(id: 2, operation: .send, element: region.element(0..<64)))
            for wc in try cqB.poll(count: 1, timeout: .seconds(10)) { try wc.check() }
            for wc in try cqA.poll(count: 1, timeout: .seconds(10)) { try wc.check() }
        }
    }
}

final class UncheckedListener: @unchecked Sendable {
    let listener: EndpointExchangeListener
    init(_ l: EndpointExchangeListener) { listener = l }
}

final class UncheckedAuthListener: @unchecked Sendable {
    let listener: AuthenticatedListener
    init(_ l: AuthenticatedListener) { listener = l }
}

/// Authenticated: full handshakes, or resumptions of one cached session.
func authenticatedSetups(_ n: Int, resume: Bool) throws -> Double {
    let server = try configuration("rank0")
    let client = try configuration("rank1")
    let listener = UncheckedAuthListener(try AuthenticatedListener(context: context, configuration: server, address: "127.0.0.1"))
    // With a client-side cache, the warm-up's full handshake leaves the
    // session every later setup resumes; without one, each is a full handshake.
    let sessions: SessionCache? = resume ? SessionCache() : nil
    if resume { _ = try connectPair(listener, client: client, sessions: sessions) }
    return try elapsedSeconds {
        for _ in 0..<n {
            let channel = try connectPair(listener, client: client, sessions: sessions)
            precondition(channel.resumed == resume)
        }
    }
}

func connectPair(_ listener: UncheckedAuthListener, client: ChannelConfiguration, sessions: SessionCache?) throws -> AuthenticatedQueuePair {
    let accepted = Box<AuthenticatedQueuePair>()
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        if let server = try? listener.listener.accept(timeout: .seconds(30)) {
            _ = try? server.receive(timeout: .seconds(10))
            accepted.value = server
        }
        done.signal()
    }
    let channel = try AuthenticatedConnector.connect(context: context, host: "127.0.0.1", port: listener.listener.port,
        configuration: client, sessions: sessions)
    try channel.send([UInt8](repeating: 1, count: 64))
    try channel.flush()
    done.wait()
    guard accepted.value != nil else { fatalError("accept failed") }
    return channel
}

print("QP setups on \(context.deviceName), \(count) each (two QPs, TCP exchange, RTS, one message):")
let plain = try plainSetups(count)
let full = try authenticatedSetups(count, resume: false)
let resumed = try authenticatedSetups(count, resume: true)
print("| setup | total s | ms per setup | setups/s | ratio to plain |")
print("| --- | ---: | ---: | ---: | ---: |")
for (name, t) in [("plain RC", plain), ("authenticated, full handshake", full), ("authenticated, resumed session", resumed)] {
    print("| \(name) | " + String(format: "%.2f | %.2f | %.1f | %.2f |", t, t / Double(count) * 1000, Double(count) / t, t / plain))
}
