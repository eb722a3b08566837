/// SplitMix64: a tiny seeded generator so every fuzz run sees the same cases.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
}

/// Structure-unaware mutations plus a few aimed at length fields and sizes.
func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
    if rng.below(16) == 0 {  // pure noise, sometimes with a valid header
        var noise = (0..<rng.below(300)).map { _ in rng.byte() }
        if noise.count >= 2, rng.below(2) == 0 { noise[0] = 1; noise[1] = UInt8(1 + rng.below(6)) }
        return noise
    }
    var m = seed
    for _ in 0...rng.below(4) {
        switch rng.below(9) {
        case 0 where !m.isEmpty: m[rng.below(m.count)] ^= UInt8(1) << UInt8(rng.below(8))
        case 1 where !m.isEmpty: m[rng.below(m.count)] = rng.byte()
        case 2: m.insert(rng.byte(), at: rng.below(m.count + 1))
        case 3 where !m.isEmpty: m.remove(at: rng.below(m.count))
        case 4: m = Array(m.prefix(rng.below(m.count + 1)))
        case 5: m += (0..<rng.below(64)).map { _ in rng.byte() }
        case 6 where m.count >= 2:  // an "interesting" 16-bit value somewhere (length fields)
            let i = rng.below(m.count - 1)
            let v: [UInt16] = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFF, 0xFFFF]
            let x = v[rng.below(v.count)]
            m[i] = UInt8(x >> 8); m[i + 1] = UInt8(x & 0xFF)
        case 7 where m.count >= 4:  // duplicate a slice
            let a = rng.below(m.count), b = min(m.count, a + 1 + rng.below(32))
            m.insert(contentsOf: m[a..<b], at: rng.below(m.count + 1))
        case 8 where m.count >= 1:  // small integer in a count/type byte
            m[rng.below(m.count)] = UInt8(rng.below(10))
        default: break
        }
    }
    return m
}
