#!/usr/bin/env bash
# Run every test of aifs against the binaries in build directory $1 and end
# with the line "N passed, N failed".
#
# Unit suites (Check) count one test per Check test; integration tests
# (test/integration/test_*.py, run with /usr/bin/python3) print one line per
# test: "ok NAME" or "not ok NAME: why".  TESTS=pattern runs a subset.
set -u
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
pattern=${TESTS:-}
pass=0 fail=0 skip=0
log=$(mktemp -d /tmp/aifs-test-log.XXXXXX)

for exe in "$build"/test_*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	name=$(basename "$exe")
	[ -n "$pattern" ] && [[ "$name" != *$pattern* ]] && continue
	CK_VERBOSITY=verbose CK_DEFAULT_TIMEOUT=300 "$exe" >"$log/$name.out" 2>&1
	rc=$?
	p=$(grep -c ':P:' "$log/$name.out")
	f=$(grep -cE ':[FE]:' "$log/$name.out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	# a unit test that reports no check (not run with CK_ENV) counts nothing
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok unit: $name reported no checks (srunner_run_all needs CK_ENV)"
		f=1
	fi
	grep -E ':[FE]:' "$log/$name.out" | sed 's/^/not ok unit: /'
	[ "$rc" -ne 0 ] && [ "$f" -ge 1 ] && tail -n 20 "$log/$name.out"
	echo "unit $name: $p passed, $f failed"
	pass=$((pass + p)) fail=$((fail + f))
done

export AIFS_BIN="$build/aifs" AIFSCTL_BIN="$build/aifsctl" AIFS_TOP="$top"
# Under the sanitizers (make check-asan) everything runs 2-3 times slower:
# the tests that run for a set time or a set number of rounds run shorter
# there (every test still runs), unless the caller chose a size.
if ldd "$build/aifs" 2>/dev/null | grep -q libasan; then
	export AIFS_FSX_SECONDS=${AIFS_FSX_SECONDS:-15} AIFS_STRESS_SECONDS=${AIFS_STRESS_SECONDS:-15}
	export AIFS_CRASH_LOOPS=${AIFS_CRASH_LOOPS:-10}
	echo "sanitizer build: AIFS_FSX_SECONDS=$AIFS_FSX_SECONDS" \
	     "AIFS_STRESS_SECONDS=$AIFS_STRESS_SECONDS AIFS_CRASH_LOOPS=$AIFS_CRASH_LOOPS"
fi
# One integration program: $1 its name in the report, $2 the file; the
# environment may carry AIFS_TEST_USER and the like.
run_integration() {
	local name=$1 t=$2 start rc p f k
	start=$(date +%s)
	/usr/bin/python3 "$t" >"$log/$name.out" 2>&1
	rc=$?
	k=$(grep -c '^ok .* # skip' "$log/$name.out")
	p=$(( $(grep -c '^ok ' "$log/$name.out") - k ))
	f=$(grep -c '^not ok ' "$log/$name.out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok $name: exited with status $rc"
		tail -n 30 "$log/$name.out"
		f=1
	fi
	grep '^not ok ' "$log/$name.out"
	[ "$f" -gt 0 ] && tail -n 40 "$log/$name.out" | grep -v '^ok '
	echo "integration $name: $p passed, $f failed, $k skipped ($(( $(date +%s) - start ))s)"
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + k))
}

for t in "$top"/test/integration/test_*.py; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .py)
	[ -n "$pattern" ] && [[ "$name" != *$pattern* ]] && continue
	run_integration "$name" "$t"
	# the POSIX expectations again as an unprivileged user on the shared
	# (allow_other) mount: what only root may do skips itself there
	if [ "$name" = test_posix ]; then
		AIFS_TEST_USER=4242 run_integration test_posix_as_uid_4242 "$t"
	fi
done

echo "logs in $log"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
