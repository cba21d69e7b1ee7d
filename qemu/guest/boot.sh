#!/usr/bin/env bash
# Boot the test kernel once under QEMU and save its console.
# Usage: boot.sh BZIMAGE INITRD MODE PAGING(4|5) LOG [TIMEOUT_SECONDS]
# TCG by default; KVM only when a quick probe on this machine showed it works.
# The guest is told which (rpm.accel=) and reports it back with what it measured.
# Environment: RPM_SMP (CPUs, default 2), RPM_MEM (default 4G, or 6G for a kernel that needs its
# 1 GiB page reserved at boot: see below), RPM_APPEND (more kernel arguments, e.g.
# rpm.tests=NAME,NAME to run only those programs), RPM_QEMU_ARGS (more QEMU arguments,
# split at blanks: bench.sh's -plugin), RPM_SLOW (slower guests: qemu/guest/slow.sh).
source "$(dirname "$0")/../common.sh"
source "$QEMU_DIR/guest/slow.sh"
kernel=$1 initrd=$2 mode=$3 paging=$4 log=$5 limit=${6:-2400}

accel=(-accel tcg,thread=multi) accel_name=tcg
if [ "$mode" != probe ] && [ "$("$QEMU_DIR/guest/kvm-probe.sh" "$kernel" "$initrd")" = yes ]; then
	accel=(-accel kvm) accel_name=kvm
fi

append="console=ttyS0 panic=-1 rpm.mode=$mode rpm.accel=$accel_name"
append="$append hugepagesz=2M hugepages=16"
# The 1 GiB hugetlb page. A kernel that can allocate gigantic pages at run time
# (CONFIG_CONTIG_ALLOC: the debug test kernel) gets it from guest-init.sh
# (rpm.hp1g=runtime): one reserved on the command line comes from memblock,
# which kmemleak registers and then reads whole, a GiB, in every scan (two
# scans took 78-90 s instead of 25-31 s, measured). Without it (the performance
# kernel) it is reserved at boot, which needs 6 GiB: in 4 GiB the early
# allocations leave no free 1 GiB-aligned range (measured: hp1g=0).
config=$(dirname "$kernel")/../../../.config
if grep -q '^CONFIG_CONTIG_ALLOC=y' "$config" 2>/dev/null; then
	append="$append rpm.hp1g=runtime" mem=4G
else
	append="$append hugepagesz=1G hugepages=1" mem=6G
fi
[ "$paging" = 4 ] && append="$append no5lvl"
append="$append ${RPM_APPEND:-}"

slow_join "$(basename "$log")"
set +e
"${SLOW_PREFIX[@]}" timeout -k 10 "$limit" qemu-system-x86_64 "${accel[@]}" -cpu max -smp "${RPM_SMP:-2}" -m "${RPM_MEM:-$mem}" \
	-display none -monitor none -serial stdio -no-reboot \
	-kernel "$kernel" -initrd "$initrd" -append "$append" ${RPM_QEMU_ARGS:-} </dev/null >"$log" 2>&1
rc=$?
set -e
slow_report "$(basename "$log")"
[ "$rc" = 124 ] && echo "RPM-TIMEOUT after ${limit}s" >>"$log"
exit 0
