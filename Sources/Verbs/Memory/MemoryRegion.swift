#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs
import CVerbsShim

/// A registered memory region (`ibv_reg_mr`, IB spec 10.6). Holds its PD and
/// its buffer; deregisters in deinit before either can go.
public final class MemoryRegion: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<ibv_mr>
    public let pd: ProtectionDomain
    public private(set) var buffer: RegisteredBuffer
    public private(set) var access: AccessFlags

    init(pd: ProtectionDomain, buffer: RegisteredBuffer, access: AccessFlags) throws(VerbsError) {
        self.pd = pd
        self.buffer = buffer
        self.access = access
        pointer = try VerbsCall.pointer("ibv_reg_mr", reason: "\(buffer.byteCount) bytes, access \(access.rawValue)") {
            fa_ibv_reg_mr(pd.pointer, buffer.baseAddress, buffer.byteCount, access.rawValue)
        }
    }

    deinit {
        let rc = ibv_dereg_mr(pointer)
        assert(rc == 0, "ibv_dereg_mr: \(rc)")
    }

    public var lkey: UInt32 { pointer.pointee.lkey }
    public var rkey: UInt32 { pointer.pointee.rkey }
    public var address: UInt64 { buffer.address }
    public var length: Int { buffer.byteCount }
    public var bytes: UnsafeMutableRawBufferPointer { buffer.bytes }

    /// A scatter/gather element over `range` of this region.
    public func element(_ range: Range<Int>) -> ScatterGatherElement {
        precondition(range.lowerBound >= 0 && range.upperBound <= length, "SGE range \(range) outside region of \(length) bytes")
        return ScatterGatherElement(address: address + UInt64(range.lowerBound), length: UInt32(range.count), lkey: lkey)
    }

    /// What a peer needs to access `range` of this region.
    public func remote(_ range: Range<Int>? = nil) -> RemoteMemory {
        let r = range ?? 0..<length
        return RemoteMemory(address: address + UInt64(r.lowerBound), rkey: rkey, length: UInt32(r.count))
    }

    /// Changes access rights and/or the buffer (`ibv_rereg_mr`, IB spec
    /// 10.6.3.7). Keys may change: read `lkey`/`rkey` again afterwards.
    /// Providers without rereg (rxe in Linux 6.1 answers EOPNOTSUPP) get the
    /// equivalent the spec allows: register anew, then deregister the old
    /// registration, so a failure leaves the old one valid and untouched.
    /// Returns true when the registration was changed in place.
    @discardableResult
    public func reregister(access newAccess: AccessFlags? = nil, buffer newBuffer: RegisteredBuffer? = nil) throws(VerbsError) -> Bool {
        var flags: Int32 = 0
        if newAccess != nil { flags |= Int32(IBV_REREG_MR_CHANGE_ACCESS.rawValue) }
        if newBuffer != nil { flags |= Int32(IBV_REREG_MR_CHANGE_TRANSLATION.rawValue) }
        guard flags != 0 else { return true }
        let b = newBuffer ?? buffer
        let a = newAccess ?? access
        let rc = ibv_rereg_mr(pointer, flags, nil, b.baseAddress, b.byteCount, Int32(a.rawValue))
        if rc == 0 {
            buffer = b
            access = a
            return true
        }
        // ibv_rereg_mr returns an errno value, or IBV_REREG_MR_ERR_* (negative) when the
        // kernel failed after partial work; only "not supported" is worth the fallback.
        let err = rc > 0 ? rc : Glibc.errno
        guard err == EOPNOTSUPP || err == ENOTSUP || err == ENOSYS else {
            throw VerbsCall.failure("ibv_rereg_mr", errno: err, code: .callFailed,
                reason: "rc \(rc)", file: #fileID, line: #line)
        }
        let fresh = try VerbsCall.pointer("ibv_reg_mr", reason: "re-registration fallback, \(b.byteCount) bytes") {
            fa_ibv_reg_mr(pd.pointer, b.baseAddress, b.byteCount, a.rawValue)
        }
        let old = pointer
        pointer = fresh
        buffer = b
        access = a
        let drc = ibv_dereg_mr(old)
        assert(drc == 0, "ibv_dereg_mr: \(drc)")
        return false
    }
}
