import ArgumentParser

/// The `fabricauth` command: operators' entry point to FabricAuth.
@main
struct FabricAuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fabricauth",
        abstract: "Zero-trust identity and per-message authentication for RDMA fabrics.",
        version: "0.1.0",
        // Each subcommand lives in its own file, named after the command.
        subcommands: [CACommand.self, CertCommand.self, DoctorCommand.self, PingCommand.self, DemoCommand.self, BenchCommand.self,
                      PolicyCommand.self, QuarantineCommand.self]
    )
}
