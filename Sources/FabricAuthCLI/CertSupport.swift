import ArgumentParser
import Foundation
import Identity

/// Helpers shared by the `ca` and `cert` commands.
enum CLIHelpers {
    static func keyType(_ text: String) throws -> KeyType {
        guard let type = KeyType(rawValue: text) else {
            throw ValidationError("--key-type must be ed25519 or p256, not \(text)")
        }
        return type
    }

    static func refuseExisting(_ paths: [String], force: Bool) throws {
        guard !force else { return }
        for path in paths where FileManager.default.fileExists(atPath: path) {
            throw IdentityError(.fileExists, "\(path) exists; refusing to overwrite it (pass --force)")
        }
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IdentityError(.io, "cannot read \(path)")
        }
        return [UInt8](data)
    }
}
