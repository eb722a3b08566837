#if canImport(Glibc)
import Glibc
#endif

/// The thin seam every C call goes through (after swift-system's `system_open`
/// family): it turns the two return conventions of rdma-core into a thrown
/// `VerbsError`, and traps on EFAULT, which only a programming error can cause.
///
/// libibverbs is inconsistent (rdma-core 44, man 3 ibv_modify_qp vs ibv_reg_mr):
/// most `ibv_*` verbs return the errno value itself, while allocation verbs
/// return NULL and set `errno`, and librdmacm returns -1 and sets `errno`.
enum VerbsCall {
    enum Convention {
        /// 0 on success, otherwise the errno value (ibv_modify_qp, ibv_post_send, ibv_query_port).
        case returnsErrno
        /// 0 on success, -1 with `errno` set (rdma_*, POSIX).
        case minusOneSetsErrno
    }

    /// Runs `body`, throwing a `VerbsError` that names `function` if it fails.
    @inline(__always)
    static func check(
        _ function: StaticString, _ convention: Convention, code: VerbsError.Code = .callFailed,
        reason: @autoclosure () -> String = "", file: String = #fileID, line: UInt = #line,
        _ body: () -> Int32
    ) throws(VerbsError) {
        let rc = body()
        if rc == 0 { return }
        let err: Int32
        switch convention {
        case .returnsErrno:
            // Some providers return -1 and set errno even where the verb is
            // documented to return the errno value; accept both.
            err = rc > 0 ? rc : (Glibc.errno != 0 ? Glibc.errno : -rc)
        case .minusOneSetsErrno:
            err = Glibc.errno
        }
        throw failure(function, errno: err, code: code, reason: reason(), file: file, line: line)
    }

    /// Unwraps a pointer returned by an allocating verb (NULL + errno on failure).
    @inline(__always)
    static func pointer<T>(
        _ function: StaticString, code: VerbsError.Code = .callFailed, reason: @autoclosure () -> String = "",
        file: String = #fileID, line: UInt = #line, _ body: () -> T?
    ) throws(VerbsError) -> T {
        Glibc.errno = 0
        if let value = body() { return value }
        // Some verbs (ibv_create_qp on rxe for unsupported caps) return NULL
        // without setting errno; report that honestly as errno 0 -> EINVAL-less.
        let err = Glibc.errno
        throw failure(function, errno: err == 0 ? nil : err, code: code, reason: reason(), file: file, line: line)
    }

    /// Builds the error; traps on EFAULT because a bad address passed to the
    /// kernel is a bug in this library, not an environmental condition.
    static func failure(
        _ function: StaticString, errno err: Int32?, code: VerbsError.Code, reason: String, file: String, line: UInt
    ) -> VerbsError {
        if err == EFAULT {
            preconditionFailure("\(function) returned EFAULT (bad address): a bug in the caller [\(file):\(line)]")
        }
        return VerbsError(code, function: "\(function)", errno: err, reason: reason, file: file, line: line)
    }
}
