#!/bin/busybox sh
# PID 1 of the test guest (busybox). Mounts the basics, loads the module,
# runs what rpm.mode on the kernel command line asks for, and powers off.
# Every line the host parses starts with "RPM-".
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# What udev would make: the kselftest runner writes to /dev/stdout.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages 2>/dev/null

mode=check hp1g=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	rpm.mode=*) mode=${arg#rpm.mode=} ;;
	rpm.hp1g=*) hp1g=${arg#rpm.hp1g=} ;;
	esac
done

if [ "$mode" = probe ]; then
	# kvm-probe.sh: does a guest boot to here at all?
	echo "RPM-DONE"
	reboot -f
fi

# THP for the cases that ask for it (MADV_HUGEPAGE), shmem included.
echo madvise >/sys/kernel/mm/transparent_hugepage/enabled
echo advise >/sys/kernel/mm/transparent_hugepage/shmem_enabled
echo madvise >/sys/kernel/mm/transparent_hugepage/defrag
# khugepaged asleep for good: a collapse in the background, at its own time,
# would change what a test made while the test looks at it (a THP split by the
# test, collapsed again). Tests that collapse do it themselves (MADV_COLLAPSE).
# Written once, now: every write of this file wakes khugepaged for a pass.
echo 4294967295 >/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs

# The 1 GiB hugetlb page, allocated now rather than reserved on the command
# line when boot.sh says so (rpm.hp1g=runtime; why: see there). Early, while
# most of memory is free; rpm-env below reports whether it is there.
if [ "$hp1g" = runtime ]; then
	echo 1 >/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages
fi

# Swap on zram, for the swapped-entry cases (MADV_PAGEOUT).
if [ -e /sys/block/zram0 ]; then
	echo 256M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 &&
		echo "RPM-INFO swap on zram0"
fi
# What the suite takes for granted, measured: CPUs, paging level, swap,
# hugetlb, THP, userfaultfd WP_ASYNC, clocksource, accelerator. The host
# checks it against what the run is named for.
/bin/rpm-env
echo "RPM-INFO kernel $(uname -r)"

# Kmemleak: no periodic scan in the middle of the suite (one scan reads the
# whole of memory: minutes under TCG); the scans after the suite judge it.
KMEMLEAK=/sys/kernel/debug/kmemleak
mount -t debugfs none /sys/kernel/debug 2>/dev/null
[ -w $KMEMLEAK ] && echo scan=off >$KMEMLEAK

# The module: from the modules tree (make install: modules_install + depmod)
# with modprobe, as on a user's machine; insmod only for a bare .ko.
if [ -e /rust_pagemap.ko ]; then
	load="insmod /rust_pagemap.ko"
else
	load="modprobe rust_pagemap"
fi
# KUnit runs the module's own unit tests (its #[kunit_tests] suites) while it
# loads, before modprobe returns, and prints their KTAP to the kernel log. The
# host reads it from there, not from the console, where the guest's own lines
# can cut into a kernel line: every log line from the first "KTAP version 1"
# after this marker on, without its time stamp, indentation kept (it nests the
# cases under their suite), as an RPM-KUNIT line. RPM-KUNIT-EXPECT says how
# many suites the module carries (counted by mkinitramfs.sh) and whether this
# kernel has KUnit (/sys/module/kunit: its parameters); the verdict requires
# every suite the module carries.
echo "rpm: loading rust_pagemap" >/dev/kmsg
if $load; then
	echo "RPM-MODULE loaded ($load)"
	kunit=no
	[ -d /sys/module/kunit ] && kunit=yes
	echo "RPM-KUNIT-EXPECT suites=$(cat /etc/rpm-kunit-suites 2>/dev/null || echo '?') kunit=$kunit"
	dmesg | sed -n '/^\[[^]]*\] rpm: loading rust_pagemap$/,$p' | sed 's/^\[[^]]*\] //' |
		sed -n '/^KTAP version 1$/,$p' | sed 's/^/RPM-KUNIT /'
	# Like /proc/PID/pagemap, what a reader may see is decided per process at
	# open and attach time, so the node itself can be open to every user.
	chmod 0444 /dev/rust_pagemap
	echo "RPM-INFO $(ls -l /dev/rust_pagemap)"
else
	echo "RPM-MODULE failed ($load)"
fi

# rpm.tests=a,b on the command line runs only those programs (rpm.tests=none:
# no selftest program, for a boot of other people's programs alone, with
# rpm.others=); rpm.env=NAME=VALUE
# (repeatable) puts NAME in their environment; rpm.timeout=SECONDS overrides the
# runner's per-program timeout (selftests/settings).
only= timeout=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	rpm.tests=*) only=${arg#rpm.tests=} ;;
	rpm.env=*=*) export "${arg#rpm.env=}" && echo "RPM-INFO environment: ${arg#rpm.env=}" ;;
	rpm.timeout=*) timeout=${arg#rpm.timeout=} ;;
	esac
done
echo "RPM-INFO clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null), $(grep -c ^processor /proc/cpuinfo) CPUs"

# Where the module's code and the kernel's are in this boot, for the per-symbol listing of
# `make bench` (bench-report.py maps the plugin's block addresses with the module's own
# symbol table and the kernel's System.map): `RPM-BENCH-TEXT MODULE .text=ADDR _text=ADDR`.
bench_text() {
	echo "RPM-BENCH-TEXT $1 .text=$(cat /sys/module/rust_pagemap/sections/.text 2>/dev/null)" \
		"_text=0x$(awk '$3 == "_text" { print $1; exit }' /proc/kallsyms)"
}

case "$mode" in
bench)
	# `make bench` (qemu/bench/bench.sh): the benchmark, with the sizes the host chose; with
	# BENCH_BASELINE a module built from another revision runs first, in the same boot.
	# bench.sh's TESTDIR (the benchmark, its arguments, a baseline module) is /kselftest.
	if [ -f /kselftest/rust_pagemap_baseline.ko ]; then
		rmmod rust_pagemap && insmod /kselftest/rust_pagemap_baseline.ko && chmod 0444 /dev/rust_pagemap &&
			bench_text baseline && echo "RPM-BENCH-MODULE baseline" &&
			/kselftest/bench $(cat /kselftest/bench.args 2>/dev/null)
		echo "RPM-END bench-baseline $?"
		rmmod rust_pagemap
		insmod /rust_pagemap.ko && chmod 0444 /dev/rust_pagemap
	fi
	bench_text current
	echo "RPM-BENCH-MODULE current"
	/kselftest/bench $(cat /kselftest/bench.args 2>/dev/null)
	rc=$?
	# bdwgc's collection time on /proc and through the redirect library
	# (gc.runs: how many runs each way; guest-others.sh gc-bench).
	if [ -f /kselftest/gc.runs ]; then
		/others/guest-others.sh gc-bench "$(cat /kselftest/gc.runs)"
	fi
	echo "RPM-END bench $rc"
	;;
demo)
	for t in /kselftest/rust_pagemap/demo*; do
		echo "== ${t##*/}"
		"$t"
	done
	;;
check)
	# The installed kselftest runner, as a user runs it; it prints KTAP.
	if [ "$only" = none ]; then
		echo "RPM-INFO rpm.tests=none: no selftest program"
	else
		set --
		[ -z "$timeout" ] || set -- -o "$timeout"
		for t in $(echo "$only" | tr , ' '); do
			set -- "$@" -t "rust_pagemap:$t"
		done
		# Each program's start and result line is also stamped with the guest's
		# uptime (RPM-TIME), from which the host prints the seconds each took.
		{
			/kselftest/run_kselftest.sh "$@"
			echo $? >/tmp/runner.rc
		} | while IFS= read -r line; do
			case "$line" in
			"# selftests: "* | "ok "* | "not ok "*)
				echo "RPM-TIME $(cut -d' ' -f1 /proc/uptime) $line" ;;
			esac
			printf '%s\n' "$line"
		done
		echo "RPM-RUNNER exit=$(cat /tmp/runner.rc 2>/dev/null || echo none)"
	fi
	# --- others: other people's programs, directly and through librpm_redirect.so ---
	# (all of them with the whole suite; with rpm.tests= only when rpm.others=
	# names some: guest-others.sh reads it)
	if [ -x /others/guest-others.sh ] && { [ -z "$only" ] || grep -q 'rpm\.others=' /proc/cmdline; }; then
		/others/guest-others.sh
	fi
	# --- end others ---
	;;
esac

if rmmod rust_pagemap; then
	echo "RPM-MODULE unloaded"
else
	echo "RPM-MODULE unload failed"
fi

# Leaks: kmemleak reports an object only once it is 5 s old and was
# unreferenced, unchanged, in two scans, so scan twice. Every object of the
# suite is older than that by the second scan: the first alone takes over
# 10 s here.
t0=$(date +%s)
if echo scan 2>/dev/null >$KMEMLEAK && sleep 1 && echo scan 2>/dev/null >$KMEMLEAK; then
	echo "RPM-INFO kmemleak: two scans in $(($(date +%s) - t0)) s"
	echo "RPM-KMEMLEAK leaks=$(grep -c 'unreferenced object' $KMEMLEAK)"
	sed 's/^/RPM-KMEMLEAK-REPORT /' $KMEMLEAK
else
	echo "RPM-KMEMLEAK unavailable (no debugfs file, or kmemleak disabled itself)"
fi
echo "RPM-DONE"
sync
# -no-reboot on the QEMU side: a reboot ends the run.
reboot -f
