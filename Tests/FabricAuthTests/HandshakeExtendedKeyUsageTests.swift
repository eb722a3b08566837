import Crypto
import Foundation
import Handshake
import Identity
import X509
import XCTest

@testable import FabricAuth

/// "The role in use" for X509-SVID §4.4, end to end through the real handshake with
/// FabricAuth's certificate credential and verifier: a workload's one credential serves it as
/// initiator and as responder, so a leaf whose extendedKeyUsage allows only one of
/// serverAuth/clientAuth is refused in either role, and a leaf with both works in both.
final class HandshakeExtendedKeyUsageTests: XCTestCase {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)

    struct Endpoint {
        let credential: Credential
        let verifier: CertificatePeerVerifier
    }

    var authority: CertificateAuthority!
    var authorityKey: Certificate.PrivateKey!

    override func setUpWithError() throws {
        (authority, authorityKey) = try CertificateAuthority.create(trustDomain: "example.org", now: Self.now)
    }

    func endpoint(_ name: String, usages: [ExtendedKeyUsage.Usage]?) throws -> Endpoint {
        let credential: Credential
        if let usages {
            // FabricAuth's CA always sets both purposes, so a one-purpose leaf is built here.
            let key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
            let leaf = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
                notValidBefore: Self.now.addingTimeInterval(-60), notValidAfter: Self.now.addingTimeInterval(3600),
                issuer: authority.certificate.subject, subject: try DistinguishedName { CommonName(name) },
                signatureAlgorithm: .ed25519,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                    try ExtendedKeyUsage(usages)
                    SubjectAlternativeNames([.uniformResourceIdentifier("spiffe://example.org/\(name)")])
                },
                issuerPrivateKey: authorityKey
            )
            credential = try Credential(chain: [leaf], privateKey: key)
        } else {
            let (chain, key) = try authority.issue(id: SPIFFEID("spiffe://example.org/\(name)"), now: Self.now)
            credential = try Credential(chain: chain, privateKey: key)
        }
        let verifier = IdentityVerifier(bundles: [try TrustBundle(trustDomain: "example.org", anchors: [authority.certificate])])
        return Endpoint(credential: credential,
                        verifier: CertificatePeerVerifier(verifier: verifier, policy: try Policy(text: "allow domain example.org")))
    }

    static func binding(_ role: ChannelBinding.Role) -> ChannelBinding {
        ChannelBinding(role: role, qpn: role == .initiator ? 0x11 : 0x22, psn: 0x1234, gid: [UInt8](repeating: 1, count: 16),
                       mtu: 4096)
    }

    /// Runs a full handshake; returns each side's error, nil where it finished.
    func handshake(initiator: Endpoint, responder: Endpoint) -> (initiator: HandshakeError?, responder: HandshakeError?) {
        func machine(_ endpoint: Endpoint, _ role: ChannelBinding.Role) -> HandshakeMachine {
            HandshakeMachine(configuration: HandshakeConfiguration(
                credential: CertificateCredential(endpoint.credential), verifier: endpoint.verifier,
                localBinding: Self.binding(role), expectedRemoteBinding: Self.binding(role == .initiator ? .responder : .initiator)))
        }
        let machines = [machine(initiator, .initiator), machine(responder, .responder)]
        let now = Timestamp(Self.now)
        var errors: [HandshakeError?] = [nil, nil]
        var output = machines[0].start(now: now)
        var sender = 0
        while true {
            if let error = output.error { errors[sender] = error }
            guard let message = output.message else { break }
            let receiver = 1 - sender
            if machines[receiver].isFinished || machines[receiver].isFailed { break }
            output = machines[receiver].receive(message, now: now)
            sender = receiver
        }
        XCTAssertTrue(errors.contains { $0 != nil } || (machines[0].isFinished && machines[1].isFinished))
        return (errors[0], errors[1])
    }

    func assertRefusedForEKU(_ error: HandshakeError?, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(error?.code, .peerRejected, "\(String(describing: error))", file: file, line: line)
        XCTAssertTrue("\(String(describing: error))".contains("svid.extended-key-usage"), "\(String(describing: error))",
                      file: file, line: line)
    }

    func testBothPurposesWorkInBothRoles() throws {
        let good = try endpoint("good", usages: [.serverAuth, .clientAuth])
        let issued = try endpoint("issued", usages: nil)  // as `fabricauth cert issue` makes it
        for (initiator, responder) in [(good, issued), (issued, good)] {
            let errors = handshake(initiator: initiator, responder: responder)
            XCTAssertNil(errors.initiator)
            XCTAssertNil(errors.responder)
        }
    }

    func testOnePurposeIsRefusedInEitherRole() throws {
        let good = try endpoint("good", usages: nil)
        for usages: [ExtendedKeyUsage.Usage] in [[.serverAuth], [.clientAuth]] {
            let restricted = try endpoint("restricted", usages: usages)
            // Restricted leaf as responder ("server"): the initiator refuses it.
            assertRefusedForEKU(handshake(initiator: good, responder: restricted).initiator)
            // Restricted leaf as initiator ("client"): the responder refuses it.
            assertRefusedForEKU(handshake(initiator: restricted, responder: good).responder)
        }
    }
}
