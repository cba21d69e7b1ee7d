#!/usr/bin/env bash
# Build the C selftests and the demos as static binaries for the guest, with
# selftests/Makefile (kselftest lib.mk of the downloaded kernel tree, the
# kernel's exported headers), and install them in the standard kselftest
# layout: OUTDIR/run_kselftest.sh, OUTDIR/kselftest-list.txt,
# OUTDIR/rust_pagemap/<programs>.
# Usage: build-tests.sh KERNEL_OBJ_DIR OUTDIR [GUEST_BINDIR]
# GUEST_BINDIR, if given, receives the guest's own tools (rpm-env).
source "$(dirname "$0")/../common.sh"
kobj=$1 out=$(realpath -m "$2") bindir=${3:-}
src=$(readlink -f "$kobj/source" 2>/dev/null || true)
[ -d "$src/tools/testing/selftests" ] || src=$("$QEMU_DIR/kernel/fetch-kernel.sh")

if [ ! -f "$kobj/usr/include/linux/fs.h" ]; then
	make -s -C "$kobj" ARCH=x86_64 LLVM="$LLVM_SUFFIX" headers >&2
fi
obj=$(dirname "$out")/$(basename "$out").obj
rm -rf "$out"
make -s -j"$(nproc)" -C "$TOP/selftests" KDIR="$kobj" KSFT_DIR="$src/tools/testing/selftests" \
	OUTPUT="$obj" USERLDFLAGS=-static install INSTALL_PATH="$out" >&2 ||
	die "the selftests do not build"
if [ -n "$bindir" ]; then
	mkdir -p "$bindir"
	gcc -static -O2 -Wall -isystem "$kobj/usr/include" -o "$bindir/rpm-env" "$QEMU_DIR/guest/rpm-env.c" ||
		die "rpm-env does not compile"
fi
