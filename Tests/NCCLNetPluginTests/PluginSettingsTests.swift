import XCTest

@testable import NCCLNetPlugin

final class PluginSettingsTests: XCTestCase {
    let identity = [
        "FABRICAUTH_CERT": "/etc/fa/rank0.pem", "FABRICAUTH_KEY": "/etc/fa/rank0.key",
        "FABRICAUTH_BUNDLE": "/etc/fa/ca.pem", "FABRICAUTH_ALLOW": "prefix spiffe://cluster.example/trainer",
    ]

    func testCompleteIdentityParses() throws {
        let s = try PluginSettings.parse(identity)
        XCTAssertEqual(s.certificatePath, "/etc/fa/rank0.pem")
        XCTAssertEqual(s.keyPath, "/etc/fa/rank0.key")
        XCTAssertEqual(s.bundlePaths, ["/etc/fa/ca.pem"])
        XCTAssertEqual(s.allowRule, "prefix spiffe://cluster.example/trainer")
        XCTAssertNil(s.deviceName)
        XCTAssertNil(s.gidIndex)
        XCTAssertEqual(s.setupTimeoutSeconds, PluginSettings.defaultSetupTimeoutSeconds)
    }

    func testMetricsFileAndInterval() throws {
        XCTAssertNil(try PluginSettings.parse(identity).metricsFilePath)
        var env = identity
        env["FABRICAUTH_METRICS_FILE"] = "/var/lib/node_exporter/fabricauth.prom"
        var s = try PluginSettings.parse(env)
        XCTAssertEqual(s.metricsFilePath, "/var/lib/node_exporter/fabricauth.prom")
        XCTAssertEqual(s.metricsIntervalSeconds, PluginSettings.defaultMetricsIntervalSeconds)
        env["FABRICAUTH_METRICS_INTERVAL"] = "15"
        s = try PluginSettings.parse(env)
        XCTAssertEqual(s.metricsIntervalSeconds, 15)
        for bad in ["0", "-1", "5s"] {
            env["FABRICAUTH_METRICS_INTERVAL"] = bad
            XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains("FABRICAUTH_METRICS_INTERVAL"), "\($0)") }
        }
        env["FABRICAUTH_METRICS_INTERVAL"] = nil
        env["FABRICAUTH_METRICS_FILE"] = "/var/lib/node_exporter/"
        XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains("FABRICAUTH_METRICS_FILE"), "\($0)") }
    }

    func testReloadInterval() throws {
        var env = identity
        XCTAssertEqual(try PluginSettings.parse(env).reloadIntervalSeconds, PluginSettings.defaultReloadIntervalSeconds)
        env["FABRICAUTH_RELOAD_INTERVAL"] = "2"
        XCTAssertEqual(try PluginSettings.parse(env).reloadIntervalSeconds, 2)
        for bad in ["0", "-3", "2s"] {
            env["FABRICAUTH_RELOAD_INTERVAL"] = bad
            XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains("FABRICAUTH_RELOAD_INTERVAL"), "\($0)") }
        }
    }

    func testMACThreads() throws {
        var env = identity
        XCTAssertEqual(try PluginSettings.parse(env).macThreads, PluginSettings.defaultMACThreads)
        XCTAssertEqual(PluginSettings.defaultMACThreads, 2)
        for (text, n) in [("0", 0), ("1", 1), (" 4 ", 4), ("\(PluginSettings.maxMACThreads)", PluginSettings.maxMACThreads)] {
            env["FABRICAUTH_MAC_THREADS"] = text
            XCTAssertEqual(try PluginSettings.parse(env).macThreads, n, text)
        }
        for bad in ["-1", "two", "2.5", "\(PluginSettings.maxMACThreads + 1)"] {
            env["FABRICAUTH_MAC_THREADS"] = bad
            XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains("FABRICAUTH_MAC_THREADS=\(bad)"), "\($0)") }
        }
    }

    func testAuditLogSettings() throws {
        var s = try PluginSettings.parse(identity)
        XCTAssertNil(s.auditLogPath)
        XCTAssertEqual(s.auditLogMaxBytes, PluginSettings.defaultAuditLogMaxBytes)
        XCTAssertEqual(s.auditLogKeep, PluginSettings.defaultAuditLogKeep)
        var env = identity
        env["FABRICAUTH_AUDIT_LOG"] = "/var/log/fabricauth/audit-%p.jsonl"
        env["FABRICAUTH_AUDIT_LOG_MAX_BYTES"] = "1048576"
        env["FABRICAUTH_AUDIT_LOG_KEEP"] = "3"
        s = try PluginSettings.parse(env)
        XCTAssertEqual(s.auditLogPath, "/var/log/fabricauth/audit-%p.jsonl")
        XCTAssertEqual(s.auditLogMaxBytes, 1_048_576)
        XCTAssertEqual(s.auditLogKeep, 3)
        for (name, bad) in [("FABRICAUTH_AUDIT_LOG_MAX_BYTES", "100"), ("FABRICAUTH_AUDIT_LOG_MAX_BYTES", "1M"),
                            ("FABRICAUTH_AUDIT_LOG_KEEP", "0"), ("FABRICAUTH_AUDIT_LOG", "/var/log/")] {
            var e = env
            e[name] = bad
            XCTAssertThrowsError(try PluginSettings.parse(e)) { XCTAssertTrue("\($0)".contains(name), "\($0)") }
        }
    }

    func testQuarantineFile() throws {
        XCTAssertNil(try PluginSettings.parse(identity).quarantineFilePath)
        var env = identity
        env["FABRICAUTH_QUARANTINE_FILE"] = " /shared/fabricauth/quarantine.txt "
        XCTAssertEqual(try PluginSettings.parse(env).quarantineFilePath, "/shared/fabricauth/quarantine.txt")
        env["FABRICAUTH_QUARANTINE_FILE"] = ""
        XCTAssertNil(try PluginSettings.parse(env).quarantineFilePath)
    }

    func testEachMissingVariableIsNamed() {
        for name in ["FABRICAUTH_CERT", "FABRICAUTH_KEY", "FABRICAUTH_BUNDLE"] {
            var env = identity
            env[name] = nil
            XCTAssertThrowsError(try PluginSettings.parse(env)) { error in
                XCTAssertTrue("\(error)".contains(name), "\(error)")
            }
        }
        XCTAssertThrowsError(try PluginSettings.parse([:])) { error in
            let text = "\(error)"
            for name in ["FABRICAUTH_CERT", "FABRICAUTH_KEY", "FABRICAUTH_BUNDLE", "FABRICAUTH_ALLOW"] {
                XCTAssertTrue(text.contains(name), text)
            }
        }
    }

    func testNoAllowRuleAndNoPolicyIsRefusedNotDefaultedToOpen() {
        var env = identity
        env["FABRICAUTH_ALLOW"] = nil
        XCTAssertThrowsError(try PluginSettings.parse(env)) { error in
            XCTAssertTrue("\(error)".contains("deny every peer"), "\(error)")
        }
        env["FABRICAUTH_POLICY"] = "/etc/fa/policy"
        XCTAssertEqual(try PluginSettings.parse(env).policyPath, "/etc/fa/policy")
        env["FABRICAUTH_POLICY"] = "   "
        XCTAssertThrowsError(try PluginSettings.parse(env), "a blank value counts as unset")
    }

    func testSeveralBundlesAreColonSeparated() throws {
        var env = identity
        env["FABRICAUTH_BUNDLE"] = "/etc/fa/old-ca.pem:/etc/fa/new-ca.pem"
        XCTAssertEqual(try PluginSettings.parse(env).bundlePaths, ["/etc/fa/old-ca.pem", "/etc/fa/new-ca.pem"])
    }

    func testDeviceFromFabricAuthWinsOverNCCL() throws {
        var env = identity
        env["NCCL_IB_HCA"] = "mlx5_1"
        env["NCCL_IB_GID_INDEX"] = "5"
        XCTAssertEqual(try PluginSettings.parse(env).deviceName, "mlx5_1")
        XCTAssertEqual(try PluginSettings.parse(env).gidIndex, 5)
        env["FABRICAUTH_DEVICE"] = "rxe0"
        env["FABRICAUTH_GID_INDEX"] = "1"
        XCTAssertEqual(try PluginSettings.parse(env).deviceName, "rxe0")
        XCTAssertEqual(try PluginSettings.parse(env).gidIndex, 1)
    }

    func testNCCLIBHCAForms() throws {
        var env = identity
        env["NCCL_IB_HCA"] = "=mlx5_0:1,mlx5_1:1"
        XCTAssertEqual(try PluginSettings.parse(env).deviceName, "mlx5_0")
        env["NCCL_IB_HCA"] = "^mlx5_0,mlx5_1"
        let excluding = try PluginSettings.parse(env)
        XCTAssertNil(excluding.deviceName)
        XCTAssertEqual(excluding.excludedDevices, ["mlx5_0", "mlx5_1"])
        env["NCCL_IB_HCA"] = "mlx5_0:2"
        XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains("port 1"), "\($0)") }
        env["NCCL_IB_HCA"] = "mlx5_0:x"
        XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains("NCCL_IB_HCA"), "\($0)") }
        env["NCCL_IB_HCA"] = "^"
        XCTAssertThrowsError(try PluginSettings.parse(env))
    }

    func testBadNumbersAreRefusedWithTheVariableName() {
        for (name, value) in [("FABRICAUTH_GID_INDEX", "three"), ("NCCL_IB_GID_INDEX", "-1"), ("FABRICAUTH_SETUP_TIMEOUT", "0")] {
            var env = identity
            env[name] = value
            XCTAssertThrowsError(try PluginSettings.parse(env)) { XCTAssertTrue("\($0)".contains(name), "\($0)") }
        }
    }
}
