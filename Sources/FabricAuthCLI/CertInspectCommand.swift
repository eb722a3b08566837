import ArgumentParser
import Foundation
import Identity

/// `fabricauth cert inspect`: show the certificates in a file and check them against the X.509-SVID profile.
struct CertInspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the certificates in a PEM or DER file and check the X.509-SVID profile.",
        discussion: """
            Exits 0 when every certificate parses and follows the profile (a leaf first, then
            signing certificates), 1 otherwise, naming the rule that failed. It does not check
            trust: use `cert verify` for that.
            """
    )

    @Argument(help: "Certificate file (PEM with one or more certificates, or DER).")
    var file: String

    func run() async throws {
        let certificates = try CertificateParsing.certificates(atPath: file)
        for report in CertificateReport.describe(certificates) {
            print(report)
        }
        if let problem = CertificateReport.profileProblem(certificates) {
            throw problem
        }
    }
}
