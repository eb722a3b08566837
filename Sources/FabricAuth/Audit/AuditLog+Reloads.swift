import Identity

extension AuditLog {
    /// Records every reload attempt of the process's credential, bundle, policy and deny-list
    /// files (``ReloadWatcher``) as a `reload` event: loaded, or failed with the error while
    /// the previous content stays in force. A policy loaded carries its `version` and the
    /// SHA-256 of its file, the same as the handshakes' decisions under it. The log is held weakly: a released log records
    /// nothing more. Call once per log.
    public func recordReloads() {
        ReloadWatcher.shared.observeReloads { [weak self] report in
            guard let self else { return }
            _ = self.record(.reload(AuditEvent.Reload(report)))
        }
    }
}

extension AuditEvent.Reload {
    /// The event for one reload attempt; the source names are those of ``ReloadableFile/name``.
    init(_ report: ReloadReport) {
        let source: Source = switch report.source {
        case "credential": .credential
        case "policy": .policy
        case "revocations": .revocations
        case "quarantine": .quarantineList
        default: .trustBundle
        }
        self.init(source: source, path: report.paths.isEmpty ? nil : report.paths.joined(separator: ":"),
                  outcome: report.error == nil ? .loaded : .failed, error: report.error.map { "\($0)" },
                  version: report.version, sha256: report.sha256)
    }
}
