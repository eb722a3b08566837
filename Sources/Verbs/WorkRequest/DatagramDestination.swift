/// Where a UD SEND goes: an address handle, the remote QPN and its Q_Key.
public struct DatagramDestination: Sendable {
    public var addressHandle: AddressHandle
    public var queuePairNumber: UInt32
    public var qkey: UInt32

    public init(addressHandle: AddressHandle, queuePairNumber: UInt32, qkey: UInt32) {
        self.addressHandle = addressHandle
        self.queuePairNumber = queuePairNumber
        self.qkey = qkey
    }
}
