#!/usr/bin/env bash
# Boot the test kernel once under QEMU and save its console.
# Usage: boot.sh BZIMAGE INITRD MODE PAGING(4|5) LOG [TIMEOUT_SECONDS]
# TCG by default; KVM only when a quick probe on this machine showed it works.
# The guest is told which (rpm.accel=) and reports it back with what it measured.
# Environment: RPM_SMP (CPUs, default 2), RPM_MEM (default 6G), RPM_APPEND (more kernel arguments,
# e.g. rpm.tests=NAME,NAME to run only those programs).
source "$(dirname "$0")/common.sh"
kernel=$1 initrd=$2 mode=$3 paging=$4 log=$5 limit=${6:-2400}

accel=(-accel tcg,thread=multi) accel_name=tcg
if [ "$mode" != probe ] && [ "$("$QEMU_DIR/kvm-probe.sh" "$kernel" "$initrd")" = yes ]; then
	accel=(-accel kvm) accel_name=kvm
fi

append="console=ttyS0 panic=-1 rpm.mode=$mode rpm.accel=$accel_name"
append="$append hugepagesz=2M hugepages=16 hugepagesz=1G hugepages=1"
[ "$paging" = 4 ] && append="$append no5lvl"
append="$append ${RPM_APPEND:-}"

set +e
timeout -k 10 "$limit" qemu-system-x86_64 "${accel[@]}" -cpu max -smp "${RPM_SMP:-2}" -m "${RPM_MEM:-6G}" \
	-display none -monitor none -serial stdio -no-reboot \
	-kernel "$kernel" -initrd "$initrd" -append "$append" </dev/null >"$log" 2>&1
rc=$?
set -e
[ "$rc" = 124 ] && echo "RPM-TIMEOUT after ${limit}s" >>"$log"
exit 0
