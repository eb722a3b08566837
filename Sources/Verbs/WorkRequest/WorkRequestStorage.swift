#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs

/// Preallocated `ibv_send_wr`/`ibv_recv_wr`/`ibv_sge` arrays a queue encodes
/// requests into before posting. Allocated once per QP, reused for every
/// post: the data path allocates nothing (VerbsBenchmark counts mallocs).
/// One poster at a time per queue, as with the verbs themselves on one QP
/// from one thread.
final class WorkRequestStorage {
    let chainCapacity: Int
    let send: UnsafeMutablePointer<ibv_send_wr>
    let receive: UnsafeMutablePointer<ibv_recv_wr>
    let sges: UnsafeMutablePointer<ibv_sge>

    init(chainCapacity: Int) {
        precondition(chainCapacity > 0)
        self.chainCapacity = chainCapacity
        send = .allocate(capacity: chainCapacity)
        send.initialize(repeating: ibv_send_wr(), count: chainCapacity)
        receive = .allocate(capacity: chainCapacity)
        receive.initialize(repeating: ibv_recv_wr(), count: chainCapacity)
        let n = chainCapacity * ScatterGatherList.capacity
        sges = .allocate(capacity: n)
        sges.initialize(repeating: ibv_sge(), count: n)
    }

    deinit {
        send.deallocate()
        receive.deallocate()
        sges.deallocate()
    }

    @inline(__always)
    private func encodeElements(_ list: ScatterGatherList, slot: Int) -> UnsafeMutablePointer<ibv_sge> {
        let base = sges + slot * ScatterGatherList.capacity
        for i in 0..<list.count {
            let e = list.storage[i]
            base[i] = ibv_sge(addr: e.address, length: e.length, lkey: e.lkey)
        }
        return base
    }

    /// Fills slot `slot` of the receive array, links it to nothing, returns it.
    @inline(__always)
    func encodeReceive(_ r: ReceiveRequest, at slot: Int) -> UnsafeMutablePointer<ibv_recv_wr> {
        let wr = receive + slot
        wr.pointee.wr_id = r.id
        wr.pointee.next = nil
        wr.pointee.sg_list = encodeElements(r.elements, slot: slot)
        wr.pointee.num_sge = Int32(r.elements.count)
        return wr
    }

    /// Fills slot `slot` of the send array from `r`.
    @inline(__always)
    func encodeSend(_ r: SendRequest, at slot: Int) -> UnsafeMutablePointer<ibv_send_wr> {
        let wr = send + slot
        wr.pointee = ibv_send_wr()
        wr.pointee.wr_id = r.id
        wr.pointee.sg_list = encodeElements(r.elements, slot: slot)
        wr.pointee.num_sge = Int32(r.elements.count)
        wr.pointee.send_flags = r.flags.rawValue
        switch r.operation {
        case .send:
            wr.pointee.opcode = IBV_WR_SEND
        case let .sendWithImmediate(imm):
            wr.pointee.opcode = IBV_WR_SEND_WITH_IMM
            wr.pointee.imm_data = imm.bigEndian
        case let .sendWithInvalidate(rkey):
            wr.pointee.opcode = IBV_WR_SEND_WITH_INV
            wr.pointee.invalidate_rkey = rkey
        case let .write(remote):
            wr.pointee.opcode = IBV_WR_RDMA_WRITE
            wr.pointee.wr.rdma.remote_addr = remote.address
            wr.pointee.wr.rdma.rkey = remote.rkey
        case let .writeWithImmediate(remote, imm):
            wr.pointee.opcode = IBV_WR_RDMA_WRITE_WITH_IMM
            wr.pointee.wr.rdma.remote_addr = remote.address
            wr.pointee.wr.rdma.rkey = remote.rkey
            wr.pointee.imm_data = imm.bigEndian
        case let .read(remote):
            wr.pointee.opcode = IBV_WR_RDMA_READ
            wr.pointee.wr.rdma.remote_addr = remote.address
            wr.pointee.wr.rdma.rkey = remote.rkey
        case let .localInvalidate(rkey):
            wr.pointee.opcode = IBV_WR_LOCAL_INV
            wr.pointee.invalidate_rkey = rkey
        case let .sendTo(dest):
            wr.pointee.opcode = IBV_WR_SEND
            wr.pointee.wr.ud.ah = dest.addressHandle.pointer
            wr.pointee.wr.ud.remote_qpn = dest.queuePairNumber
            wr.pointee.wr.ud.remote_qkey = dest.qkey
        }
        return wr
    }

    /// The error for a refused post: ENOMEM means the queue is full (rdma-core
    /// providers return it when no WQE slot is free).
    static func postFailure(_ function: StaticString, _ rc: Int32, failedIndex: Int, queueFull: VerbsError.Code,
        file: String = #fileID, line: UInt = #line) -> VerbsError {
        let err = rc > 0 ? rc : -rc
        let code: VerbsError.Code = err == ENOMEM ? queueFull : .callFailed
        return VerbsCall.failure(function, errno: err, code: code,
            reason: "request \(failedIndex) of the chain was refused; it and those after it were not posted",
            file: file, line: line)
    }
}
