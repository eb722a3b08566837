#!/bin/sh
# Builds the plug-in harness with the system C compiler (no NCCL, no CUDA needed;
# libibverbs for --bench's plain-verbs baseline; -rdynamic for allocations.c).
#   Tests/NCCLPluginHarness/build.sh [OUTPUT]   (default .build/nccl-plugin-harness)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/.build/nccl-plugin-harness}
mkdir -p "$(dirname "$out")"
${CC:-gcc} -std=c11 -O2 -g -Wall -Wextra -Werror \
    -I"$root/Sources/CNCCLNet/include" \
    "$root/Tests/NCCLPluginHarness/harness.c" "$root/Tests/NCCLPluginHarness/phases.c" \
    "$root/Tests/NCCLPluginHarness/bench.c" "$root/Tests/NCCLPluginHarness/oob.c" \
    "$root/Tests/NCCLPluginHarness/allocations.c" -rdynamic -o "$out" -ldl -libverbs
echo "$out"
