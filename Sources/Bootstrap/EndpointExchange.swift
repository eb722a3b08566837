/// The out-of-band exchange of QP endpoints over plain TCP, as perftest and
/// rc_pingpong do without rdma_cm (-R): for hosts where rdma_cm is not
/// available. The server side is `EndpointExchangeListener`; a setup that
/// needs more than one round trip keeps a `BootstrapConnection` instead.
public enum EndpointExchange {
    /// Connects to a listener, sends `local`, returns the listener's answer.
    /// A listener that requires a client token (the default) refuses a
    /// `local` whose payload does not start with one.
    public static func exchange(host: String, port: UInt16, local: ExchangeMessage, timeout: Duration = .seconds(10))
        throws(BootstrapError) -> ExchangeMessage
    {
        let deadline = ContinuousClock.now + timeout
        let connection = try BootstrapConnection.connect(host: host, port: port, timeout: timeout)
        try connection.send(local, deadline: deadline)
        return try connection.receive(deadline: deadline)
    }
}
