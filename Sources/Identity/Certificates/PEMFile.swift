import Foundation
import SwiftASN1

/// Reads PEM (RFC 7468) or raw DER input into DER blobs, strictly.
///
/// Every input is untrusted: errors name what was wrong (`malformedPEM`, `empty`) instead of
/// crashing or silently skipping bytes. Text around PEM blocks (openssl's "Bag Attributes",
/// comments) is allowed, as RFC 7468 §2 permits explanatory text between blocks; a block that
/// begins but never ends is an error (a truncated file).
enum PEMFile {
    /// Largest file we will read; certificates and keys are a few KiB.
    static let maximumFileSize = 1 << 20

    /// Returns the DER bodies of all blocks labelled `label`, in file order.
    /// Raw DER input (first byte 0x30, SEQUENCE) is returned as one blob.
    static func derBlocks(in bytes: [UInt8], label: String) throws(IdentityError) -> [[UInt8]] {
        guard !bytes.isEmpty else { throw IdentityError(.empty, "input is empty") }
        if bytes.first == 0x30 { return [bytes] }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw IdentityError(.malformedPEM, "input is neither DER (SEQUENCE) nor UTF-8 PEM text (RFC 7468 §2)")
        }
        let documents = try documents(in: text)
        let wanted = documents.filter { $0.discriminator == label }
        guard !wanted.isEmpty else {
            let labels = documents.map(\.discriminator)
            throw IdentityError(
                .empty,
                labels.isEmpty
                    ? "no PEM block found (expected \"-----BEGIN \(label)-----\")"
                    : "no \(label) block found (found: \(labels.joined(separator: ", ")))"
            )
        }
        return wanted.map(\.derBytes)
    }

    /// All PEM documents in `text`, any label.
    static func documents(in text: String) throws(IdentityError) -> [PEMDocument] {
        let begins = text.components(separatedBy: "-----BEGIN ").count - 1
        let ends = text.components(separatedBy: "-----END ").count - 1
        guard begins == ends else {
            throw IdentityError(
                .malformedPEM,
                "\(begins) BEGIN line(s) but \(ends) END line(s): the file is truncated or corrupt (RFC 7468 §2)"
            )
        }
        guard begins > 0 else { return [] }
        do {
            return try PEMDocument.parseMultiple(pemString: text)
        } catch {
            throw IdentityError(.malformedPEM, "PEM is not well formed (RFC 7468 §2): \(error)")
        }
    }

    /// Reads a file, refusing oversized ones.
    static func read(_ path: String) throws(IdentityError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw IdentityError(.io, "cannot open \(path) for reading")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            throw IdentityError(.io, "cannot read \(path): \(error)")
        }
        guard data.count <= maximumFileSize else {
            throw IdentityError(.io, "\(path) is larger than \(maximumFileSize) bytes")
        }
        return [UInt8](data)
    }
}
