import Dispatch
import Foundation

extension RevocationStore {
    /// Reloads the deny list whenever the process receives SIGHUP, the usual "re-read your
    /// configuration" signal. Keep the returned source alive (cancel it to stop); `onResult`
    /// gets the outcome of each reload for logging (a failed reload keeps the old list).
    ///
    /// The default SIGHUP action (terminate) is replaced with "ignore" so that only the
    /// dispatch source sees the signal.
    public func reloadOnSIGHUP(
        queue: DispatchQueue = DispatchQueue(label: "fabricauth.revocation-reload"),
        onResult: @escaping @Sendable (Result<RevocationList, IdentityError>) -> Void = { _ in }
    ) -> any DispatchSourceSignal {
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        source.setEventHandler { [self] in
            do throws(IdentityError) {
                let list = try reload()
                onResult(.success(list))
            } catch {
                onResult(.failure(error))
            }
        }
        source.resume()
        return source
    }
}
