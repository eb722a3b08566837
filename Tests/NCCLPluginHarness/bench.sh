#!/bin/sh
# The plug-in's sendrecv benchmark (bench.c), auth against plain verbs on one
# device, with identities made on the spot by the CLI:
#   Tests/NCCLPluginHarness/bench.sh BIN_DIR [ITERATIONS]
#   Tests/NCCLPluginHarness/bench.sh BIN_DIR --connect N   (--bench-connect, N connections)
# BIN_DIR holds libnccl-net-fabricauth.so and fabricauth (e.g. .build/release).
# In the test bed: Hardware/softroce -- Tests/NCCLPluginHarness/bench.sh .build/release
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$1" && pwd)
mode="--bench --bench-iterations ${2:-20}"
[ "${2:-}" = --connect ] && mode="--bench-connect --connections ${3:?--connect needs a count}"
work=$(mktemp -d "${TMPDIR:-/tmp}/nccl-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$bin/fabricauth" ca init --trust-domain bench.test >/dev/null
for rank in rank0 rank1; do
    "$bin/fabricauth" cert issue --id "spiffe://bench.test/$rank" --out "$rank.pem" --key-out "$rank.key" >/dev/null
done
"$root/Tests/NCCLPluginHarness/build.sh" "$work/harness" >/dev/null
FABRICAUTH_CERT=rank0.pem FABRICAUTH_KEY=rank0.key FABRICAUTH_BUNDLE=ca.pem \
FABRICAUTH_ALLOW="domain bench.test" HARNESS_RANK1_CERT=rank1.pem HARNESS_RANK1_KEY=rank1.key NCCL_DEBUG=WARN \
    "$work/harness" "$bin/libnccl-net-fabricauth.so" $mode --loads 1
