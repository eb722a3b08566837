import ArgumentParser

/// `fabricauth ca`: FabricAuth's own small CA, for clusters without a PKI.
struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Manage FabricAuth's built-in certificate authority.",
        subcommands: [CAInitCommand.self]
    )
}
