#!/usr/bin/python3
# Validates audit log lines against docs/audit-schema.json (JSON Schema draft
# 2020-12) with Debian's python3-jsonschema: validate-audit-log.py SCHEMA FILE.
# Prints "N: path: message" for each error and a summary; exits 1 on any error
# or an empty file. Used by FabricAuthTests (AuditTestSupport.swift) and
# DeviceTests (AuditTrailDeviceTests.swift).
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
bad = 0
count = 0
for number, line in enumerate(open(sys.argv[2]), 1):
    count += 1
    try:
        value = json.loads(line)
    except ValueError as e:
        print(f"{number}: not JSON: {e}")
        bad += 1
        continue
    for error in validator.iter_errors(value):
        print(f"{number}: {error.json_path}: {error.message}")
        bad += 1
print(f"checked {count} lines, {bad} errors")
sys.exit(1 if bad or count == 0 else 0)
