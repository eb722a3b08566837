import CSodium

/// Where ephemeral keys and nonces come from. Injected so tests are deterministic.
public protocol RandomSource: Sendable {
    func fill(_ buffer: UnsafeMutableRawBufferPointer)
}

/// The default: libsodium's randombytes_buf (getrandom(2) on Linux).
public struct SodiumRandom: RandomSource {
    public init() { _ = sodiumReady }
    public func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        randombytes_buf(base, buffer.count)
    }
}

extension RandomSource {
    func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fill($0) }
        return out
    }
}
