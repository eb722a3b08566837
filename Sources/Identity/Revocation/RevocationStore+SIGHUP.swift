import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Write end of the self-pipe the SIGHUP handler signals through (-1: none installed).
/// Written only by `reloadOnSIGHUP` before the handler is installed; read by the handler.
nonisolated(unsafe) private var sighupPipeWriteEnd: Int32 = -1

extension RevocationStore {
    /// Reloads the deny list whenever the process receives SIGHUP, the usual "re-read your
    /// configuration" signal. Keep the returned source alive (cancel it to stop); `onResult`
    /// gets the outcome of each reload for logging (a failed reload keeps the old list).
    /// One handler per process: a second call replaces the first.
    ///
    /// Uses a `sigaction` handler that writes one byte to a pipe (the self-pipe trick;
    /// `write` is async-signal-safe) and a dispatch read source on the other end. A dispatch
    /// *signal* source is not used: on Linux it only sees signals that every thread blocks,
    /// and a SIGHUP delivered to any other thread would be lost.
    public func reloadOnSIGHUP(
        queue: DispatchQueue = DispatchQueue(label: "fabricauth.revocation-reload"),
        onResult: @escaping @Sendable (Result<RevocationList, IdentityError>) -> Void = { _ in }
    ) throws(IdentityError) -> any DispatchSourceRead {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw IdentityError(.io, "cannot create the SIGHUP pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        sighupPipeWriteEnd = writeEnd

        var action = sigaction()
        let handler: @convention(c) (Int32) -> Void = { _ in
            var byte: UInt8 = 1
            _ = write(sighupPipeWriteEnd, &byte, 1)  // a full pipe already means "reload pending"
        }
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        guard sigaction(SIGHUP, &action, nil) == 0 else {
            close(readEnd)
            close(writeEnd)
            throw IdentityError(.io, "cannot install the SIGHUP handler: \(String(cString: strerror(errno)))")
        }

        let source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: queue)
        source.setEventHandler { [self] in
            var buffer = [UInt8](repeating: 0, count: 64)
            while read(readEnd, &buffer, buffer.count) > 0 {}  // coalesce signals into one reload
            do throws(IdentityError) {
                let list = try reload()
                onResult(.success(list))
            } catch {
                onResult(.failure(error))
            }
        }
        source.setCancelHandler {
            signal(SIGHUP, SIG_IGN)
            close(readEnd)
            close(writeEnd)
        }
        source.resume()
        return source
    }
}
