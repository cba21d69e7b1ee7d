#!/usr/bin/env bash
# Build the guest's initramfs: static busybox, the module, the test binaries.
# Usage: mkinitramfs.sh OUT.cpio.gz MODULE.ko TESTDIR [GUEST_BINDIR [OVERLAY]]
source "$(dirname "$0")/common.sh"
out=$1 ko=$2 tests=$3 bindir=${4:-} overlay=${5:-}

root=$(mktemp -d)
chmod 0755 "$root"  # mktemp makes it 0700: no other user could reach anything
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,tests,etc}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$QEMU_DIR/guest-init.sh" "$root/init"
chmod +x "$root/init"
cp "$ko" "$root/rust_pagemap.ko"
cp "$tests"/* "$root/tests/"
[ -z "$bindir" ] || cp "$bindir"/* "$root/bin/"
# --- others: OVERLAY (build-others.sh) is copied over the root: /others, and
# the dynamic loader and libc its programs need ---
[ -z "$overlay" ] || cp -a "$overlay/." "$root/"
# --- end others ---
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>"$root/etc/passwd"
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out"
