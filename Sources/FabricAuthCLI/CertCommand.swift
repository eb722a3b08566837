import ArgumentParser

/// `fabricauth cert`: issue, inspect, verify and revoke workload certificates (X.509-SVIDs).
struct CertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cert",
        abstract: "Issue, inspect, verify and revoke workload certificates (X.509-SVIDs).",
        subcommands: [
            CertIssueCommand.self, CertInspectCommand.self, CertVerifyCommand.self, CertRevokeCommand.self,
        ]
    )
}
