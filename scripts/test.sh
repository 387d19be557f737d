#!/usr/bin/env bash
# Build flashsale twice (release-ish and address+undefined sanitizers) and run
# every test in both: cmocka units and integration tests against the real
# daemon. Installs its own Debian packages first. Ends with one summary line
# "N passed, N failed" (N skipped when any) and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; skipped=0
run_build() {  # name, meson setup options...
	local dir=$1; shift
	echo "=== build $dir ($*)"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
		tail -50 "$dir.ninja.log"; failed=$((failed + 1)); return
	fi
	echo "=== test $dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier "${TIMEOUT_MULT:-1}"
	# Count from meson's machine-readable log (one JSON object per test).
	local counts
	counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
) || counts="0 1 0"
	read -r p f s <<<"$counts"
	echo "=== $dir: $p passed, $f failed, $s skipped"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

run_build build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	TIMEOUT_MULT=3 run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dexpensive_asserts=true

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
