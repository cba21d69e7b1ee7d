#!/usr/bin/env bash
# Print "yes" if a KVM guest boots to the end of the probe run here, else "no".
# On some hosts /dev/kvm exists but guests hang; the answer is cached per
# host boot so that the cost (at most ~15 s) is paid once.
source "$(dirname "$0")/../common.sh"
kernel=$1 initrd=$2
cache=$CACHE/kvm-probe.$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
if [ -f "$cache" ]; then
	cat "$cache"
	exit 0
fi
answer=no
if [ -w /dev/kvm ]; then
	log=$(mktemp)
	timeout -k 2 15 qemu-system-x86_64 -accel kvm -cpu max -smp 1 -m 1G -display none \
		-monitor none -serial stdio -no-reboot -kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 rpm.mode=probe" </dev/null >"$log" 2>&1 || true
	grep -q '^RPM-DONE' "$log" && answer=yes
	rm -f "$log"
fi
echo "$answer" >"$cache"
echo "$answer"
