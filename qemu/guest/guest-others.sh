#!/bin/sh
# Other people's programs on the device (guest side; busybox sh, as root, with
# the module loaded). Each program runs twice: directly on /proc, and with
# LD_PRELOAD=librpm_redirect.so RPM_REDIRECT_LOG=1, which puts its pagemap
# opens and clear_refs writes on /dev/rust_pagemap. A program passes when
#   - both runs give the same results (TAP result lines, plan and exit status
#     for the kernel's mm selftests; the whole output for page-types),
#   - the direct run gave results at all,
#   - the redirect log shows redirected calls, and no call that had to stay
#     on /proc (a refused attach, a failed clear) or a missing device.
# One TAP line per program, inside an RPM-BEGIN/RPM-END block that
# parse_log.py counts like the other test binaries:
#   ok N redirect: PROGRAM redirected: same result
#   not ok N redirect: PROGRAM ...reason..., then the diff as "# " lines
# Built by build-others.sh into /others; the list is here.
O=/others
LIB=$O/librpm_redirect.so
W=/tmp/others
# Time: each run of a program gets LIMIT seconds; no program starts once
# BUDGET seconds have gone since the first one did (it is then reported as a
# failure, not skipped), so a slow guest fails by name and never runs into
# the boot's own timeout. The per-program times are printed to calibrate both.
LIMIT=240
BUDGET=900
mkdir -p "$W"
# split_huge_page_test splits through debugfs (the test kernel has DEBUG_FS).
grep -q ' /sys/kernel/debug ' /proc/mounts || mount -t debugfs none /sys/kernel/debug 2>/dev/null

# The kernel's mm selftests that read pagemap or clear soft-dirty, run from
# their directory as run_vmtests.sh runs them, with the arguments mm_args
# gives (none: every test they have). `make check` runs them in its two boots
# of the performance kernel (qemu/verdict/run.sh): under TCG with KASAN, cow and
# uffd-wp-mremap take many minutes. Out (README names them with the reason):
# khugepaged (it never opens pagemap or clear_refs: nothing to redirect) and
# split_huge_page_test (it splits through debugfs, which the performance
# kernel lacks; rpm.others=split_huge_page_test runs it on the debug kernel,
# with khugepaged held off).
MM_TESTS="madv_populate mkdirty pagemap_ioctl guard-regions soft-dirty cow uffd-wp-mremap"
# rpm.others=NAME,NAME on the kernel command line runs only those mm
# selftests (any built into /others/mm, listed or not), page-types only if
# "page-types" is among them, bdwgc's gctest only if "gctest" is: for
# targeted runs while fixing one program. rpm.others=all runs the whole list,
# page-types and gctest (next to rpm.tests=).
PAGE_TYPES=yes GCTEST=yes
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	rpm.others=all) ;;
	rpm.others=*)
		MM_TESTS= PAGE_TYPES=no GCTEST=no
		for t in $(echo "${arg#rpm.others=}" | tr ',' ' '); do
			case "$t" in
			page-types) PAGE_TYPES=yes ;;
			gctest) GCTEST=yes ;;
			*) MM_TESTS="$MM_TESTS $t" ;;
			esac
		done
		;;
	esac
done

mm_args() { # NAME: the arguments it runs with (none: every test it has)
	case "$1" in
	*) ;;
	esac
}

mm_limit() { # NAME: the seconds each of its runs gets
	case "$1" in
	uffd-wp-mremap) echo 900 ;; # 39 of its 40 results took 422 s alone in this guest
	*) echo "$LIMIT" ;;
	esac
}

# khugepaged held off while split_huge_page_test runs: it splits THPs and
# checks that they stay split, and khugepaged's periodic scan collapses them
# back (on /proc as on the device: seen in both runs of a pair). Writing the
# scan interval wakes khugepaged for one pass at once, after which it sleeps
# the new interval (an hour); the pause lets that pass end first.
KH=/sys/kernel/mm/transparent_hugepage/khugepaged
hold_khugepaged() { # on|off
	if [ "$1" = on ]; then
		kh_sleep=$(cat $KH/scan_sleep_millisecs)
		echo 3600000 >$KH/scan_sleep_millisecs && sleep 3
		echo "# khugepaged held off (scan_sleep_millisecs $kh_sleep -> 3600000)"
	else
		echo "$kh_sleep" >$KH/scan_sleep_millisecs
	fi
}

n=0
result() { # ok|not-ok NAME TEXT
	n=$((n + 1))
	if [ "$1" = ok ]; then
		echo "ok $n redirect: $2 $3"
	else
		echo "not ok $n redirect: $2 $3"
	fi
}

# The lines of a kselftest run that make its result: plan, results, totals.
# A result whose description carries a measurement, different from run to
# run on /proc itself, is compared without it (measured()).
tap_results() {
	grep -E '^(not )?ok [0-9]+|^1\.\.[0-9]+|^# Totals' "$1" | measured
}

# pagemap_ioctl's transact_test counts the pages six racing writers got
# reported twice (allowed: a write that faults again after the scan
# write-protected its page) and the extra faults they took; both depend on
# timing (two direct runs on /proc gave 93 and 94). The result itself (ok:
# no update lost) is compared.
measured() {
	sed -E 's/^((not )?ok [0-9]+ transact_test Extra pages) [0-9]+ \([0-9.]+%\), extra thread faults [0-9]+\./\1 N (measured), extra thread faults N (measured)./'
}

# Check the redirect log $1 of program $2; prints a reason and returns 1 if
# the redirect did not take effect everywhere.
check_log() {
	opens=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> /dev/rust_pagemap$' "$1")
	clears=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL$' "$1")
	stayed=$(grep '^rpm_redirect\[[0-9]*\]: ' "$1" | grep -c -e 'stays on /proc' -e 'failed:' -e 'is absent')
	echo "# $2: redirect log: $opens pagemap opens, $clears clear_refs writes redirected, $stayed left on /proc"
	if [ "$stayed" != 0 ]; then
		grep '^rpm_redirect\[[0-9]*\]: ' "$1" | grep -e 'stays on /proc' -e 'failed:' -e 'is absent' |
			sort | uniq -c | head -n 10 | sed 's/^/#   /'
		echo "redirect log shows calls left on /proc"
		return 1
	fi
	if [ $((opens + clears)) = 0 ]; then
		echo "redirect log shows no redirected call"
		return 1
	fi
	return 0
}

# THPs khugepaged has collapsed since boot (a THP a test split may come back).
collapsed() {
	cat /sys/kernel/mm/transparent_hugepage/khugepaged/pages_collapsed 2>/dev/null || echo 0
}

run_twice() { # NAME DIR LIMIT COMMAND...
	name=$1 dir=$2 limit=$3
	shift 3
	d=$W/$name.direct r=$W/$name.redirected
	t0=$(date +%s)
	echo "# $name: running directly, then redirected: $*"
	kc0=$(collapsed)
	(cd "$dir" && timeout "$limit" "$@" </dev/null >"$d.out" 2>"$d.err")
	drc=$?
	t1=$(date +%s)
	kc1=$(collapsed)
	# A run killed by timeout: busybox's timeout makes that 143 (SIGTERM)
	# unless the program catches the signal (uffd-wp-mremap exits 1), so
	# the time it took says it too.
	dto=no
	{ [ "$drc" = 124 ] || [ "$drc" = 143 ] || [ $((t1 - t0)) -ge "$limit" ]; } && dto=yes
	if [ "$dto" = yes ]; then
		: >"$r.out" # it failed already: no time spent on the second run
		: >"$r.err"
		rrc=$drc
	else
		(cd "$dir" && LD_PRELOAD=$LIB RPM_REDIRECT_LOG=1 timeout "$limit" "$@" </dev/null >"$r.out" 2>"$r.err")
		rrc=$?
	fi
	t2=$(date +%s)
	kc2=$(collapsed)
	echo "# $name: khugepaged collapsed $((kc1 - kc0)) THPs during the direct run, $((kc2 - kc1)) during the redirected one"
	rto=no
	{ [ "$rrc" = 124 ] || [ "$rrc" = 143 ] || [ $((t2 - t1)) -ge "$limit" ]; } && rto=yes
	tap_results "$d.out" >"$d.tap"
	tap_results "$r.out" >"$r.tap"
	echo "exit $drc" >>"$d.tap"
	echo "exit $rrc" >>"$r.tap"
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$d.tap" | head -n 1)
	echo "# $name: direct $((t1 - t0))s: $(grep -c -E '^(not )?ok [0-9]+' "$d.tap") of ${plan:-?} planned results: $(grep -c '^ok ' "$d.tap") ok ($(grep -c '^ok .*# *SKIP' "$d.tap") skip), $(grep -c '^not ok ' "$d.tap") not ok, exit $drc; redirected $((t2 - t1))s"
	# what fails on /proc already (the test kernel's own answer), for the record
	grep '^not ok ' "$d.tap" | head -n 20 | sed 's/^/#   direct: /'
	grep -E '^ok [0-9]+.*# *SKIP' "$d.tap" | head -n 20 | sed 's/^/#   direct skip: /'
	why=$(check_log "$r.err" "$name")
	ok=$?
	echo "$why" | grep '^#'
	why=$(echo "$why" | grep -v '^#')
	if [ "$dto" = yes ]; then
		result not-ok "$name" "direct run timed out after ${limit}s"
		tail -n 5 "$d.out" | sed 's/^/# last: /'
	elif ! grep -q -E '^(not )?ok [0-9]+' "$d.tap"; then
		result not-ok "$name" "direct run reported no results"
		tail -n 20 "$d.out" "$d.err" | sed 's/^/# /'
	elif [ "$rto" = yes ]; then
		result not-ok "$name" "redirected run timed out after ${limit}s (direct: $((t1 - t0))s)"
		diff "$d.tap" "$r.tap" | sed 's/^/# /' | head -n 30
	elif ! diff "$d.tap" "$r.tap" >"$W/$name.diff"; then
		result not-ok "$name" "redirected: results differ"
		sed 's/^/# /' "$W/$name.diff" | head -n 40
		# how each run ended (a kselftest's "Bail out!" is on stdout)
		tail -n 6 "$d.out" | sed 's/^/# direct, last: /'
		tail -n 6 "$r.out" | sed 's/^/# redirected, last: /'
		grep -v '^rpm_redirect\[' "$r.err" | tail -n 10 | sed 's/^/# redirected, stderr: /'
	elif [ "$ok" != 0 ]; then
		result not-ok "$name" "redirected: $why"
	else
		result ok "$name" "redirected: same result"
	fi
}

# page-types on a process with a varied address space (another PID: attach by
# pidfd), and on a file it maps itself (/proc/self/pagemap). /proc/kpageflags
# and /proc/kpagecount stay on /proc; the output must be byte for byte the same.
# The walk of the process is limited to its own window (-a): page-types maps
# the same shared libraries, and their flags (referenced, mapcount) change
# with every run, the first one included. The file walk has no summary (-N):
# it prints the file's times as "N seconds ago".
page_types() { # NAME ARGS...
	name=$1
	shift
	d=$W/$name.direct r=$W/$name.redirected
	"$O/page-types" "$@" >"$d.out" 2>"$d.err"
	drc=$?
	LD_PRELOAD=$LIB RPM_REDIRECT_LOG=1 "$O/page-types" "$@" >"$r.out" 2>"$r.err"
	rrc=$?
	echo "exit $drc" >>"$d.out"
	echo "exit $rrc" >>"$r.out"
	echo "# $name: page-types $*: $(wc -l <"$d.out") lines, exit $drc"
	why=$(check_log "$r.err" "$name")
	ok=$?
	echo "$why" | grep '^#'
	why=$(echo "$why" | grep -v '^#')
	if [ "$drc" != 0 ] || [ "$(wc -l <"$d.out")" -lt 3 ]; then
		result not-ok "$name" "direct run failed"
		tail -n 20 "$d.out" "$d.err" | sed 's/^/# /'
	elif ! diff "$d.out" "$r.out" >"$W/$name.diff"; then
		result not-ok "$name" "redirected: output differs"
		sed 's/^/# /' "$W/$name.diff" | head -n 60
	elif [ "$ok" != 0 ]; then
		result not-ok "$name" "redirected: $why"
	else
		result ok "$name" "redirected: same result"
	fi
}

# Without the device (hidden by a tmpfs over /dev in a mount namespace of
# its own) the library must pass everything through and warn once.
device_absent() {
	name=device-absent
	unshare -m sh -c "mount -t tmpfs none /dev &&
		LD_PRELOAD=$LIB RPM_REDIRECT_LOG=1 $O/page-types -r -L -N -f /tmp/varied.dat" \
		>"$W/$name.out" 2>"$W/$name.err"
	echo "exit $?" >>"$W/$name.out"
	warned=$(grep -c '^rpm_redirect\[[0-9]*\]: /dev/rust_pagemap is absent' "$W/$name.err")
	moved=$(grep -c -e '-> /dev/rust_pagemap$' -e '-> RPM_IOC' "$W/$name.err")
	echo "# $name: $warned warnings, $moved redirected calls"
	if ! diff "$W/page-types-file.direct.out" "$W/$name.out" >"$W/$name.diff"; then
		result not-ok "$name" "page-types output differs from the direct run"
		sed 's/^/# /' "$W/$name.diff" | head -n 30
		sed 's/^/# stderr: /' "$W/$name.err" | head -n 10
	elif [ "$warned" != 1 ] || [ "$moved" != 0 ]; then
		result not-ok "$name" "wanted one warning and nothing redirected"
	else
		result ok "$name" "passes through with one warning"
	fi
}

# bdwgc, Debian's libgc1 (build-others.sh, fetch-bdwgc.sh), and its own test
# program, gctest: a conservative collector in incremental mode, which on
# Linux finds the pages written between collections with soft-dirty: at
# every collection it reads /proc/PID/pagemap over its heap and roots, then
# writes "4" to /proc/PID/clear_refs. A page read clean that was written is
# a missed pointer: a live object freed, which gctest's checks of its lists
# and trees catch. make check runs gctest-small (fetch-bdwgc.sh: test.c with
# one thread beside main instead of five, 5 s a run on the performance
# kernel instead of 16) once on /proc, once redirected; each run passes when
#   - gctest exits 0 and prints "Collector appears to work",
#   - it switched to incremental mode with soft-dirty: gctest's own "Switched
#     to incremental mode" and "Reading dirty bits from /proc", which it
#     prints only when GC_incremental_protection_needs() is GC_PROTECTS_NONE,
#     that is while the library holds the clear_refs file it opened after
#     seeing a page it wrote read soft-dirty from pagemap; not "Emulating
#     dirty bits with mprotect/signals", its fallback (GC_PRINT_STATS would
#     add the library's own "Using soft-dirty bit feature", and double the
#     run's time: it logs every collection),
#   - it collected with at least 2 marker threads (2 CPUs),
#   - redirected: the log shows pagemap opens and clear_refs writes put on
#     the device, and nothing left on /proc.
# TAP, in a block of its own:
#   ok N gctest.incremental_soft_dirty_on_proc
#   ok N gctest.incremental_soft_dirty_through_device
GCTEST_LIMIT=300

# gctest_check OUT ERR: prints why a gctest run failed and returns 1, or
# prints its figures as "# " lines.
gctest_check() {
	done_line=$(grep '^Completed [0-9]* collections' "$1" | head -n 1)
	[ -z "$done_line" ] || echo "# $done_line"
	echo "# $(grep -e '^Switched to incremental mode' -e 'dirty bits' "$1" | paste -sd ';' | sed 's/;/; /g')"
	markers=$(echo "$done_line" | sed -n 's/.*using \([0-9]*\) marker threads.*/\1/p')
	if ! grep -q '^Collector appears to work' "$1"; then
		echo "it did not report 'Collector appears to work'"
	elif ! grep -q '^Switched to incremental mode$' "$1"; then
		echo "it did not switch to incremental mode"
	elif grep -q '^Emulating dirty bits with mprotect/signals' "$1" ||
		! grep -q '^Reading dirty bits from /proc' "$1"; then
		echo "it did not use soft-dirty (the mprotect fallback)"
	elif [ "${markers:-0}" -lt 2 ]; then
		echo "it marked with ${markers:-?} threads, not 2 or more"
	else
		return 0
	fi
	return 1
}

gctest_run() { # NAME direct|redirected TAP_NUMBER
	name=$1 f=$W/gctest.$2
	t0=$(date +%s)
	if [ "$2" = direct ]; then
		(cd /tmp && timeout "$GCTEST_LIMIT" "$O/gc/gctest-small" </dev/null >"$f.out" 2>"$f.err")
	else
		(cd /tmp && LD_PRELOAD=$LIB RPM_REDIRECT_LOG=1 timeout "$GCTEST_LIMIT" "$O/gc/gctest-small" \
			</dev/null >"$f.out" 2>"$f.err")
	fi
	rc=$?
	t1=$(date +%s)
	echo "# $name: $2 run: exit $rc in $((t1 - t0))s"
	why=$(gctest_check "$f.out" "$f.err")
	ok=$?
	echo "$why" | grep '^#'
	why=$(echo "$why" | grep -v '^#')
	if [ "$2" = redirected ]; then
		lwhy=$(check_log "$f.err" "$name")
		lok=$?
		echo "$lwhy" | grep '^#'
		lwhy=$(echo "$lwhy" | grep -v '^#')
		# check_log's counts, again: it ran in a subshell
		opens=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> /dev/rust_pagemap$' "$f.err")
		clears=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL$' "$f.err")
		if [ "$lok" = 0 ] && { [ "$opens" = 0 ] || [ "$clears" = 0 ]; }; then
			lok=1 lwhy="redirect log shows $opens pagemap opens and $clears clears redirected: wanted both"
		fi
	fi
	if [ "$rc" != 0 ] || [ "$ok" != 0 ]; then
		[ "$rc" = 0 ] || why="exit $rc${why:+, $why}"
		[ "$((t1 - t0))" -lt "$GCTEST_LIMIT" ] || why="timed out after ${GCTEST_LIMIT}s, $why"
		echo "not ok $3 $name - $why"
		tail -n 8 "$f.out" | sed 's/^/# out: /'
		grep -v -e '^rpm_redirect\[' "$f.err" | tail -n 8 | sed 's/^/# err: /'
	elif [ "$2" = redirected ] && [ "$lok" != 0 ]; then
		echo "not ok $3 $name - $lwhy"
	else
		echo "ok $3 $name"
	fi
}

# `make bench` (guest-init.sh's bench mode): guest-others.sh gc-bench RUNS
# times gctest RUNS times on /proc and RUNS times through the library, pairs
# interleaved and each pair's order alternating (proc, device; device, proc;
# ...), without the library's log (a line per clear is not the library's
# cost). One line per run, for qemu/bench/bench-report.py:
#   BENCH-GC,proc|device,RUN,COLLECTIONS,MS,CLEARS,CLEAR_NS,READS,READ_NS
# MS is gctest's own total collection time (GC_get_full_gc_total_time: its
# full, world-stopped collections, each with a read of the dirty pages and a
# clear among its marking and sweeping); the rest is what the program's
# clear_refs writes and pagemap reads cost it, all of them, in and out of
# those collections, timed by libgc_calls.so (qemu/bench/gc-calls.c,
# preloaded both ways, before the redirect library). A run that fails or did
# not use soft-dirty prints BENCH-GC-FAILED.
gc_bench_one() { # proc|device RUN
	f=$W/gc-bench.$1
	if [ "$1" = proc ]; then
		(cd /tmp && LD_PRELOAD=$O/gc/libgc_calls.so "$O/gc/gctest" </dev/null >"$f.out" 2>"$f.err")
	else
		(cd /tmp && LD_PRELOAD="$O/gc/libgc_calls.so $LIB" "$O/gc/gctest" </dev/null \
			>"$f.out" 2>"$f.err")
	fi
	rc=$?
	why=$(gctest_check "$f.out" "$f.err" | grep -v '^#')
	calls=$(awk '/^rpm-gc-calls / { for (i = 3; i <= 6; i++) { split($i, kv, "="); s[i] += kv[2] } n++ }
		END { if (n) printf "%.0f,%.0f,%.0f,%.0f", s[3], s[4], s[5], s[6] }' "$f.err")
	set -- "$1" "$2" $(sed -n 's/^Completed \([0-9]*\) collections in \([0-9]*\) ms.*/\1 \2/p' "$f.out")
	if [ "$rc" != 0 ] || [ -n "$why" ] || [ -z "${4:-}" ] || [ -z "$calls" ]; then
		echo "BENCH-GC-FAILED,$1,$2,exit $rc${why:+, $why}${calls:-, no rpm-gc-calls line}"
	else
		echo "BENCH-GC,$1,$2,$3,$4,$calls"
	fi
}

if [ "${1:-}" = gc-bench ]; then
	mkdir -p "$W"
	i=1
	while [ "$i" -le "${2:-5}" ]; do
		if [ $((i % 2)) = 1 ]; then
			gc_bench_one proc "$i"
			gc_bench_one device "$i"
		else
			gc_bench_one device "$i"
			gc_bench_one proc "$i"
		fi
		i=$((i + 1))
	done
	exit 0
fi

if [ "$GCTEST" = yes ]; then
	echo "RPM-BEGIN bdwgc"
	echo "TAP version 13"
	echo "1..2"
	echo "# bdwgc: $(cat $O/gc/from 2>/dev/null | paste -sd ' '), $(nproc) CPUs"
	gctest_run gctest.incremental_soft_dirty_on_proc direct 1
	gctest_run gctest.incremental_soft_dirty_through_device redirected 2
	echo "RPM-END bdwgc 0"
fi

# The library's own tests, under it.
echo "RPM-BEGIN lib_redirect"
LD_PRELOAD=$LIB "$O/lib_redirect"
echo "RPM-END lib_redirect $?"

echo "RPM-BEGIN redirect"
echo "TAP version 13"
npt=0
[ "$PAGE_TYPES" = yes ] && npt=4
echo "1..$(($(echo $MM_TESTS | wc -w) + npt))"
echo "# others: $(nproc) CPUs, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)"

if [ "$PAGE_TYPES" = yes ]; then
	# The varied process; page-types reads it while it sleeps.
	"$O/varied" /tmp/varied.dat >"$W/varied.out" 2>"$W/varied.err" &
	vpid=$!
	i=0
	while ! grep -q '^ready' "$W/varied.out" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	sed 's/^/# varied: /' "$W/varied.err"
	if grep -q '^ready' "$W/varied.out"; then
		range=$(awk '/^ready/ { print $3 }' "$W/varied.out")
		page_types page-types-pid-list -p "$vpid" -a "$range" -r -L -M
		page_types page-types-pid-summary -p "$vpid" -a "$range" -r
		page_types page-types-file -r -L -N -f /tmp/varied.dat
		device_absent
	else
		for t in page-types-pid-list page-types-pid-summary page-types-file device-absent; do
			result not-ok "$t" "the varied process did not start"
		done
	fi
	kill "$vpid" 2>/dev/null
	wait "$vpid"
fi

# The mm selftests run every case on every huge page size with free pages;
# under TCG a 1 GiB page takes minutes per case (populate, COW-copy), so the
# 1 GiB pool is empty while they run: those cases report SKIP, the same both
# ways. Our own tests, which need it, ran before.
gig=/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
gigs=$(cat "$gig" 2>/dev/null || echo 0)
[ "$gigs" = 0 ] || echo 0 >"$gig"
start=$(date +%s)
for t in $MM_TESTS; do
	if [ $(($(date +%s) - start)) -ge "$BUDGET" ]; then
		result not-ok "$t" "not run: the ${BUDGET}s budget for the mm selftests was used up"
		continue
	fi
	[ "$t" != split_huge_page_test ] || hold_khugepaged on
	run_twice "$t" "$O/mm" "$(mm_limit "$t")" "./$t" $(mm_args "$t")
	[ "$t" != split_huge_page_test ] || hold_khugepaged off
done
[ "$gigs" = 0 ] || echo "$gigs" >"$gig"

echo "RPM-END redirect 0"
