#if canImport(Glibc)
import Glibc
#endif
import CIBVerbs

/// A completion event channel (`ibv_create_comp_channel`, IB spec 11.4.2.2
/// "Request Completion Notification"): a file descriptor that becomes
/// readable when an armed CQ gets a completion, for blocking waits instead of
/// busy polling. CQs using the channel hold it alive.
public final class CompletionChannel: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ibv_comp_channel>
    public let context: Context

    public init(context: Context) throws(VerbsError) {
        self.context = context
        pointer = try VerbsCall.pointer("ibv_create_comp_channel") { ibv_create_comp_channel(context.pointer) }
    }

    deinit {
        let rc = ibv_destroy_comp_channel(pointer)
        assert(rc == 0, "ibv_destroy_comp_channel: \(rc)")
    }

    public var fileDescriptor: Int32 { pointer.pointee.fd }
}
