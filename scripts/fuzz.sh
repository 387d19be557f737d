#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser with libFuzzer (clang), each for
# SECONDS (default 60), under AddressSanitizer + UBSan. Corpora are kept in
# build-fuzz/corpus/<target>; a crash leaves crash-* files in build-fuzz/.
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (targets: fuzz_fsp fuzz_config fuzz_cfg_time fuzz_net fuzz_wal fuzz_admin_def)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
TARGETS=${*:-fuzz_fsp fuzz_config fuzz_cfg_time fuzz_net fuzz_wal fuzz_admin_def}
bash scripts/install-deps.sh
command -v clang >/dev/null || { echo "fuzz.sh needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
for t in $TARGETS; do
	ninja -C build-fuzz "tests/fuzz/$t" >/dev/null
	mkdir -p "build-fuzz/corpus/$t"
	echo "=== $t for ${SECONDS_EACH}s"
	(cd build-fuzz && "tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "corpus/$t" 2>&1 |
		grep -E "DONE|stat::number_of_executed_units|ERROR|SUMMARY" | tail -3)
done
