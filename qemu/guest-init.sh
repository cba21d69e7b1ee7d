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
mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages 2>/dev/null

mode=check
for arg in $(cat /proc/cmdline); do
	case "$arg" in rpm.mode=*) mode=${arg#rpm.mode=} ;; esac
done

# THP for the cases that ask for it (MADV_HUGEPAGE), shmem included.
echo madvise >/sys/kernel/mm/transparent_hugepage/enabled
echo advise >/sys/kernel/mm/transparent_hugepage/shmem_enabled
echo madvise >/sys/kernel/mm/transparent_hugepage/defrag

# Swap on zram, for the swapped-entry cases (MADV_PAGEOUT).
if [ -e /sys/block/zram0 ]; then
	echo 256M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 &&
		echo "RPM-INFO swap on zram0"
fi
echo "RPM-INFO hugepages 2M: $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages 2>/dev/null) 1G: $(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages 2>/dev/null)"
echo "RPM-INFO kernel $(uname -r) paging levels: $(grep -q la57 /proc/cpuinfo && [ -z "$(grep -o no5lvl /proc/cmdline)" ] && echo 5 || echo 4)"
if insmod /rust_pagemap.ko; then
	echo "RPM-MODULE loaded"
	# Like /proc/PID/pagemap, what a reader may see is decided per process at
	# open and attach time, so the node itself can be open to every user.
	chmod 0444 /dev/rust_pagemap
	echo "RPM-INFO $(ls -l /dev/rust_pagemap)"
else
	echo "RPM-MODULE failed"
fi

echo "RPM-INFO clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null), $(grep -c ^processor /proc/cpuinfo) CPUs"

case "$mode" in
bench)
	# `make bench` (qemu/bench.sh): the benchmark, with the sizes the host chose; with
	# BENCH_BASELINE a module built from another revision runs first, in the same boot.
	if [ -f /tests/rust_pagemap_baseline.ko ]; then
		rmmod rust_pagemap && insmod /tests/rust_pagemap_baseline.ko && chmod 0444 /dev/rust_pagemap &&
			echo "RPM-BENCH-MODULE baseline" && /tests/bench $(cat /tests/bench.args 2>/dev/null)
		echo "RPM-END bench-baseline $?"
		rmmod rust_pagemap
		insmod /rust_pagemap.ko && chmod 0444 /dev/rust_pagemap
	fi
	echo "RPM-BENCH-MODULE current"
	/tests/bench $(cat /tests/bench.args 2>/dev/null)
	echo "RPM-END bench $?"
	;;
demo)
	for t in /tests/demo*; do
		echo "== ${t##*/}"
		"$t"
	done
	;;
check)
	for t in /tests/*; do
		name=${t##*/}
		case "$name" in demo* | bench*) continue ;; esac
		echo "RPM-BEGIN $name"
		"$t"
		echo "RPM-END $name $?"
	done
	;;
esac

rmmod rust_pagemap && echo "RPM-MODULE unloaded"
echo "RPM-DONE"
sync
# No ACPI in the test kernel: power-off would halt; QEMU runs with -no-reboot, so a
# reboot ends it.
reboot -f
