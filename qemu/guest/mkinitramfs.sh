#!/usr/bin/env bash
# Build the guest's initramfs: static busybox, the module, the installed
# selftests, the guest's own tools, other people's programs.
# Usage: mkinitramfs.sh OUT.cpio.gz MODULES TESTDIR [GUEST_BINDIR [OVERLAY]]
#   MODULES  a modules_install root (INSTALL_MOD_PATH: lib/modules/<release>/...,
#            the guest loads the module with modprobe) or a rust_pagemap.ko
#            (the guest uses insmod)
#   TESTDIR  a kselftest install (run_kselftest.sh, kselftest-list.txt, ...);
#            it becomes /kselftest
#   OVERLAY  copied over the root (build-others.sh: /others, a loader and libc)
source "$(dirname "$0")/../common.sh"
out=$1 modules=$2 tests=$3 bindir=${4:-} overlay=${5:-}

root=$(mktemp -d)
chmod 0755 "$root"  # mktemp makes it 0700: no other user could reach anything
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,lib}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$QEMU_DIR/guest/guest-init.sh" "$root/init"
chmod +x "$root/init"
if [ -d "$modules" ]; then
	[ -d "$modules/lib/modules" ] || die "$modules has no lib/modules (not a modules_install root)"
	cp -a "$modules/lib/modules" "$root/lib/"
	ko=$(find "$root/lib/modules" -name rust_pagemap.ko | head -n 1)
else
	cp "$modules" "$root/rust_pagemap.ko"
	ko=$root/rust_pagemap.ko
fi
# The module's KUnit suites: its .kunit_test_suites section holds a pointer (8
# bytes) to each, and only a module built against a kernel with CONFIG_KUNIT=y
# has one. The guest says how many with the KTAP they print when the module
# loads, and the verdict requires that many (qemu/verdict/parse_log.py, Kunit).
[ -f "$ko" ] || die "no rust_pagemap.ko in $modules"
size=$(objdump -h "$ko" | awk '$2 == ".kunit_test_suites" { print $3 }') ||
	die "objdump cannot read the sections of $ko"
echo "$((0x${size:-0} / 8))" >"$root/etc/rpm-kunit-suites"
cp -a "$tests" "$root/kselftest"
[ -z "$bindir" ] || cp "$bindir"/* "$root/bin/"
# --- others: OVERLAY (build-others.sh) is copied over the root: /others, and
# the dynamic loader and libc its programs need ---
[ -z "$overlay" ] || cp -a "$overlay/." "$root/"
# --- end others ---
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$root/etc/passwd"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out"
