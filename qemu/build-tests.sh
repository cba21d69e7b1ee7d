#!/usr/bin/env bash
# Build the C selftests and the demo as static binaries for the guest.
# Usage: build-tests.sh KERNEL_OBJ_DIR OUTDIR [GUEST_BINDIR]
# GUEST_BINDIR, if given, receives the guest's own tools (rpm-env).
# kselftest_harness.h comes from the downloaded kernel tree, the uapi headers
# (linux/fs.h with PAGEMAP_SCAN) from that kernel's `make headers`.
source "$(dirname "$0")/common.sh"
kobj=$1 out=$2 bindir=${3:-}
src=$(readlink -f "$kobj/source" 2>/dev/null || true)
[ -d "$src/tools/testing/selftests" ] || src=$("$QEMU_DIR/fetch-kernel.sh")

if [ ! -f "$kobj/usr/include/linux/fs.h" ]; then
	make -s -C "$kobj" ARCH=x86_64 LLVM="$LLVM_SUFFIX" headers >&2
fi
mkdir -p "$out"
CFLAGS=(-static -O2 -g -Wall -Wno-unused-function -Wno-misleading-indentation -pthread
	-isystem "$kobj/usr/include" -I "$src/tools/testing/selftests" -I "$TOP/selftests")
for c in "$TOP"/selftests/*.c; do
	name=$(basename "$c" .c)
	gcc "${CFLAGS[@]}" -o "$out/$name" "$c" || die "selftest $name does not compile"
done
if [ -n "$bindir" ]; then
	mkdir -p "$bindir"
	gcc "${CFLAGS[@]}" -o "$bindir/rpm-env" "$QEMU_DIR/rpm-env.c" || die "rpm-env does not compile"
fi
