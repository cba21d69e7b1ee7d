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
# "page-types" is among them, bdwgc's gctest only if "gctest" is, CRIU's
# block only if "criu" is: for targeted runs while fixing one program.
# rpm.others=all runs the whole list, page-types, gctest and CRIU (next to
# rpm.tests=).
PAGE_TYPES=yes GCTEST=yes CRIU=yes
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	rpm.others=all) ;;
	rpm.others=*)
		MM_TESTS= PAGE_TYPES=no GCTEST=no CRIU=no
		for t in $(echo "${arg#rpm.others=}" | tr ',' ' '); do
			case "$t" in
			page-types) PAGE_TYPES=yes ;;
			gctest) GCTEST=yes ;;
			criu) CRIU=yes ;;
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
# Then, when the benchmark's marker runner is there (mark-run, from
# qemu/bench/mark-run.c; bench.sh builds it), a count phase for the
# rpm-icount plugin, untimed: two more runs each way (proc, device; device,
# proc), each a section from its fork to its exit, counted on every vCPU, and
#   BENCH-ICOUNT,gc_collections,SEQ,all,total,DEVICE_COLLECTIONS,PROC_COLLECTIONS
# so that the report divides each side's kernel instructions by its collections.
# Those runs print BENCH-GC-COUNTED lines, which the times leave out.
GC_COUNT_SEQ=3000	# the count phase's number: far above the benchmark's own
gc_bench_one() { # proc|device RUN [counted]
	f=$W/gc-bench.$1
	pre=$O/gc/libgc_calls.so tag=BENCH-GC mark=
	[ "$1" = device ] && pre="$pre $LIB"
	if [ "${3:-}" = counted ]; then
		tag=BENCH-GC-COUNTED
		# the sections' markers: 0/1 the device's, 2/3 the kernel's (bench.c)
		if [ "$1" = device ]; then mark="$O/gc/mark-run 0 1 --"; else mark="$O/gc/mark-run 2 3 --"; fi
	fi
	(cd /tmp && $mark env LD_PRELOAD="$pre" "$O/gc/gctest" </dev/null >"$f.out" 2>"$f.err")
	rc=$?
	why=$(gctest_check "$f.out" "$f.err" | grep -v '^#')
	calls=$(awk '/^rpm-gc-calls / { for (i = 3; i <= 6; i++) { split($i, kv, "="); s[i] += kv[2] } n++ }
		END { if (n) printf "%.0f,%.0f,%.0f,%.0f", s[3], s[4], s[5], s[6] }' "$f.err")
	set -- "$1" "$2" $(sed -n 's/^Completed \([0-9]*\) collections in \([0-9]*\) ms.*/\1 \2/p' "$f.out")
	if [ "$rc" != 0 ] || [ -n "$why" ] || [ -z "${4:-}" ] || [ -z "$calls" ]; then
		echo "BENCH-GC-FAILED,$1,$2,exit $rc${why:+, $why}${calls:-, no rpm-gc-calls line}"
		return 1
	fi
	echo "$tag,$1,$2,$3,$4,$calls"
	gc_collections=$3
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
	if [ -x "$O/gc/mark-run" ]; then
		# counting on, then the phase's number (bench.c's MARK_COUNT_ON, MARK_WORKLOAD + SEQ)
		"$O/gc/mark-run" 16 $((1024 + GC_COUNT_SEQ))
		dev=0 kern=0 ok=1
		for side in proc device device proc; do
			gc_collections=0
			gc_bench_one "$side" counted counted || ok=0
			if [ "$side" = device ]; then dev=$((dev + gc_collections)); else kern=$((kern + gc_collections)); fi
		done
		"$O/gc/mark-run" 17	# counting off
		[ "$ok" = 1 ] && echo "BENCH-ICOUNT,gc_collections,$GC_COUNT_SEQ,all,total,$dev,$kern"
	fi
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

# CRIU, Debian's (build-others.sh, fetch-criu.sh), checkpoints a process tree
# that keeps writing and restores it, once on /proc and once with criu under
# the library. Its memory dump reads /proc/PID/pagemap of every task, and
# --track-mem clears soft-dirty through /proc/PID/clear_refs after each dump,
# so that the next one writes only the pages written since and takes the rest
# from the previous images (--prev-images-dir). A written page read clean is
# a page restored from an older image. The tree (criu_tree run, from
# selftests/redirect/criu_tree.c): a parent and a child, two writer threads
# each, on anonymous, shared anonymous, file-backed (tmpfs) and THP memory,
# each page's generation recorded in a shared file mapping, which CRIU leaves
# in the file. The scenario, each way:
#   criu pre-dump --track-mem                    (images 1)
#   criu pre-dump --track-mem, parent 1          (images 2)
#   criu_tree mark: what is written from now on must be in the final dump
#   criu dump --track-mem, parent 2              (images 3; the tree is killed)
#   criu restore -d from images 3; SIGUSR1: the tree stops writing, and every
#   process checks every page it writes against the record
# It passes when every criu command exits 0, both processes verify every page
# (verdict.parent, verdict.child: 0 wrong, the child exited 0), the final
# dump wrote at least the pages written since the mark (private pages in
# pages_written, shared anonymous ones in shpages_written: CRIU_TRACK_SHMEM=1
# makes CRIU track those with soft-dirty too, which it does not by default),
# and, through the device, the library's log shows the pagemap opens of both
# tasks in every dump, as many clear_refs writes redirected as CRIU logged
# resets of dirty tracking ("Reset PID's dirty tracking", -v3), and none left
# on /proc. CRIU's kerndat cache (/run/criu.kdat) is removed before every
# command, so that each probes soft-dirty itself, the same way it then dumps.
# TAP, in a block of its own:
#   ok N criu.check_mem_dirty_track_through_device
#   ok N criu.restored_and_verified_on_proc
#   ok N criu.restored_and_verified_through_device
CRIU_LIMIT=180   # seconds for one criu command
CRIU_WAIT=120    # seconds for the tree to be ready, to write, to verify
CRIU_PRIVATE_MIN=32 CRIU_SHARED_MIN=8 # pages written after the mark, at least
CR=$O/criu

criu_run() { # proc|device NAME ARGS...: runs criu, output in $CD/NAME.{out,err,log}
	way=$1 cname=$2
	shift 2
	rm -f /run/criu.kdat
	# trixie's criu, with trixie's loader and libraries (fetch-criu.sh)
	if [ "$way" = device ]; then
		LD_PRELOAD=$LIB RPM_REDIRECT_LOG=1 CRIU_TRACK_SHMEM=1 timeout "$CRIU_LIMIT" \
			"$CR/lib/ld-linux-x86-64.so.2" --library-path "$CR/lib" "$CR/criu" "$@" \
			-v3 -o "$CD/$cname.log" </dev/null >"$CD/$cname.out" 2>"$CD/$cname.err"
	else
		CRIU_TRACK_SHMEM=1 timeout "$CRIU_LIMIT" \
			"$CR/lib/ld-linux-x86-64.so.2" --library-path "$CR/lib" "$CR/criu" "$@" \
			-v3 -o "$CD/$cname.log" </dev/null >"$CD/$cname.out" 2>"$CD/$cname.err"
	fi
	crc=$?
	echo "# criu $1 ($cname): exit $crc in $(($(date +%s) - ${ct0:-0}))s"
	return $crc
}

criu_fail() { # NAME: CRIU's own errors and its last words, for the record
	grep -h -e 'Error' -e 'error' -e 'Warn' "$CD/$1.log" "$CD/$1.err" 2>/dev/null |
		grep -v '^rpm_redirect\[' | head -n 20 | sed 's/^/#   /'
	tail -n 12 "$CD/$1.log" 2>/dev/null | sed 's/^/#   log: /'
	grep -v '^rpm_redirect\[' "$CD/$1.err" 2>/dev/null | tail -n 5 | sed 's/^/#   err: /'
}

# criu_check_run TAP_NUMBER: criu check on /proc (printed, not a test), then
# the soft-dirty feature through the library.
criu_check_run() {
	CD=$W/criu.check
	rm -rf "$CD" && mkdir -p "$CD"
	ct0=$(date +%s)
	criu_run proc check check
	# for the record only: the performance kernel lacks what some of its
	# category 1 checks want (SO_BINDTODEVICE: "Can't get socket bound dev")
	echo "# criu check on /proc: exit $crc: $(grep -h -e 'Looks good' -e 'Does not look good' -e 'Error' "$CD/check.out" "$CD/check.log" | head -n 3 | paste -sd ';')"
	ct0=$(date +%s)
	criu_run device feature check --feature mem_dirty_track
	opens=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> /dev/rust_pagemap$' "$CD/feature.err")
	clears=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL$' "$CD/feature.err")
	stayed=$(grep '^rpm_redirect\[[0-9]*\]: ' "$CD/feature.err" | grep -c -e 'stays on /proc' -e 'failed:' -e 'is absent')
	echo "# criu.check_mem_dirty_track_through_device: $(head -n 1 "$CD/feature.out"); redirect log: $opens pagemap opens, $clears clear_refs writes redirected, $stayed left on /proc"
	if [ "$crc" != 0 ] || ! grep -q '^mem_dirty_track is supported' "$CD/feature.out"; then
		echo "not ok $1 criu.check_mem_dirty_track_through_device - exit $crc"
		criu_fail feature
	elif [ "$opens" = 0 ] || [ "$clears" = 0 ] || [ "$stayed" != 0 ]; then
		echo "not ok $1 criu.check_mem_dirty_track_through_device - the redirect log shows $opens opens, $clears clears, $stayed left on /proc"
	else
		echo "ok $1 criu.check_mem_dirty_track_through_device"
	fi
}

criu_wait_for() { # SECONDS COMMAND...: polls COMMAND every 0.2 s
	cw=$(($(date +%s) + $1))
	shift
	while ! "$@"; do
		[ "$(date +%s)" -lt "$cw" ] || return 1
		sleep 0.2
	done
}
criu_ready() { grep -q '^ready ' "$CD/tree.out" 2>/dev/null || ! kill -0 "$tpid" 2>/dev/null; }
criu_written() {
	set -- $("$O/criu_tree" count "$CD")
	[ "${2:-0}" -ge "$CRIU_PRIVATE_MIN" ] && [ "${4:-0}" -ge "$CRIU_SHARED_MIN" ]
}
criu_gone() { [ ! -d "/proc/$tpid" ] && [ ! -d "/proc/$tchild" ]; }
criu_verdict() { [ -f "$CD/verdict.parent" ]; }

criu_scenario() { # proc|device TAP_NUMBER
	way=$1 tn=$2 name=criu.restored_and_verified_$([ "$1" = proc ] && echo on_proc || echo through_device)
	CD=$W/criu.$way
	rm -rf "$CD" && mkdir -p "$CD/img/1" "$CD/img/2" "$CD/img/3"
	ct0=$(date +%s)
	"$O/criu_tree" run "$CD" </dev/null >"$CD/tree.out" 2>"$CD/tree.err" &
	tpid=$!
	why=
	if ! criu_wait_for "$CRIU_WAIT" criu_ready || ! grep -q '^ready ' "$CD/tree.out"; then
		why="the tree did not get ready: $(cat "$CD/tree.err")"
	fi
	tchild=$(awk '/^ready/ { print $4 }' "$CD/tree.out")
	[ -n "$why" ] || echo "# $name: $(head -n 1 "$CD/tree.out") after $(($(date +%s) - ct0))s"
	stats=
	for step in pre1 pre2 dump; do
		[ -z "$why" ] || break
		ct0=$(date +%s)
		case $step in
		pre1) criu_run "$way" pre1 pre-dump -t "$tpid" -D "$CD/img/1" --track-mem ;;
		pre2) criu_run "$way" pre2 pre-dump -t "$tpid" -D "$CD/img/2" --prev-images-dir ../1 --track-mem ;;
		dump)
			"$O/criu_tree" mark "$CD"
			if ! criu_wait_for "$CRIU_WAIT" criu_written; then
				why="the tree did not write $CRIU_PRIVATE_MIN private and $CRIU_SHARED_MIN shared pages in ${CRIU_WAIT}s after the mark: $("$O/criu_tree" count "$CD")"
				break
			fi
			criu_run "$way" dump dump -t "$tpid" -D "$CD/img/3" --prev-images-dir ../2 --track-mem
			;;
		esac
		if [ "$crc" != 0 ]; then
			why="criu ($step) exited $crc"
			criu_fail "$step"
			break
		fi
		n=${step#pre}
		[ "$step" = dump ] && n=3
		s=$("$O/criu_tree" stats "$CD/img/$n/stats-dump")
		echo "# $name: $step: $s"
		[ "$step" = dump ] && stats=$s
	done
	if [ -z "$why" ]; then
		written=$("$O/criu_tree" count "$CD")
		echo "# $name: written since the mark (the final dump must write them): $written"
		wait "$tpid" 2>/dev/null
		criu_wait_for "$CRIU_WAIT" criu_gone || why="the dumped tree's pids $tpid $tchild are still taken"
	fi
	if [ -z "$why" ]; then
		ct0=$(date +%s)
		criu_run "$way" restore restore -D "$CD/img/3" -d || { why="criu restore exited $crc"; criu_fail restore; }
	fi
	if [ -z "$why" ]; then
		kill -USR1 "$tpid"
		criu_wait_for "$CRIU_WAIT" criu_verdict || why="no verdict from the restored tree in ${CRIU_WAIT}s"
		sleep 0.2
		cat "$CD"/verdict.child "$CD"/verdict.parent 2>/dev/null | sed "s/^/# $name: /"
		sed 's/^/# tree: /' "$CD/tree.err" | head -n 5
	fi
	if [ -z "$why" ]; then
		set -- $written
		pw=$(echo "$stats" | sed -n 's/.* pages_written \([0-9]*\).*/\1/p')
		sw=$(echo "$stats" | sed -n 's/.* shpages_written \([0-9]*\).*/\1/p')
		if ! grep -q ': verified [0-9]* pages, 0 wrong (0 of them before a rewrite), checksum [0-9a-f]*; child exit 0$' "$CD/verdict.parent" ||
			! grep -q ': verified [0-9]* pages, 0 wrong (' "$CD/verdict.child"; then
			why="the restored tree found pages that are not what it wrote"
		elif [ "${pw:-0}" -lt "$2" ] || [ "${sw:-0}" -lt "$4" ]; then
			why="the final dump wrote $pw private and $sw shared pages, fewer than the $2 and $4 written since the last pre-dump"
		fi
	fi
	if [ -z "$why" ] && [ "$way" = device ]; then
		cat "$CD"/pre1.err "$CD"/pre2.err "$CD"/dump.err "$CD"/restore.err >"$CD/redirect.log"
		opens=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> /dev/rust_pagemap$' "$CD/redirect.log")
		clears=$(grep -c '^rpm_redirect\[[0-9]*\]: .* -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL$' "$CD/redirect.log")
		stayed=$(grep '^rpm_redirect\[[0-9]*\]: ' "$CD/redirect.log" | grep -c -e 'stays on /proc' -e 'failed:' -e 'is absent')
		resets=$(cat "$CD"/pre1.log "$CD"/pre2.log "$CD"/dump.log "$CD"/restore.log | grep -c "Reset [0-9]*'s dirty tracking")
		echo "# $name: redirect log: $opens pagemap opens, $clears clear_refs writes redirected, $stayed left on /proc; CRIU logged $resets resets of dirty tracking"
		for step in pre1 pre2 dump; do
			for p in $tpid $tchild; do
				grep -q "^rpm_redirect\[[0-9]*\]: .*pagemap of pid $p -> /dev/rust_pagemap$" "$CD/$step.err" ||
					why="${why:+$why; }no pagemap open of pid $p redirected in $step"
				grep -q "^rpm_redirect\[[0-9]*\]: .*(clear_refs of pid $p, 4) -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL$" "$CD/$step.err" ||
					[ "$step" = dump ] || why="${why:+$why; }no clear_refs write of pid $p redirected in $step"
			done
		done
		if [ "$stayed" != 0 ]; then
			why="${why:+$why; }the redirect log shows $stayed calls left on /proc"
			grep '^rpm_redirect\[[0-9]*\]: ' "$CD/redirect.log" | grep -e 'stays on /proc' -e 'failed:' -e 'is absent' |
				head -n 5 | sed 's/^/#   /'
		elif [ "$clears" != "$resets" ]; then
			why="${why:+$why; }$clears clear_refs writes redirected, but CRIU reset dirty tracking $resets times"
		fi
	fi
	kill -9 "$tpid" "$tchild" 2>/dev/null
	if [ -z "$why" ]; then
		echo "criu: restored and verified ($way)"
		echo "ok $tn $name"
	else
		echo "not ok $tn $name - $why"
		sed 's/^/# tree: /' "$CD/tree.err" | head -n 5
	fi
}

if [ "$CRIU" = yes ]; then
	echo "RPM-BEGIN criu"
	echo "TAP version 13"
	echo "1..3"
	echo "# criu: $(head -n 1 $CR/from), $(ls $CR/lib | wc -l) libraries of Debian's; $(nproc) CPUs"
	# CRIU's kerndat probes TCP repair on 127.0.0.1
	ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
	mkdir -p /run
	grep -q ' /dev/pts ' /proc/mounts || { mkdir -p /dev/pts && mount -t devpts devpts /dev/pts; }
	criu_check_run 1
	criu_scenario proc 2
	criu_scenario device 3
	echo "RPM-END criu 0"
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
