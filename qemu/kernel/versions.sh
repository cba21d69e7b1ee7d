#!/usr/bin/env bash
# Print the versions a run uses, at the top of every run.
source "$(dirname "$0")/../common.sh"
kobj=$1
echo "versions:"
echo "  kernel:  $(cat "$kobj/include/config/kernel.release" 2>/dev/null || echo unknown) ($(basename "$(dirname "$kobj")"))"
echo "  rustc:   $("$RUSTC" --version)"
echo "  bindgen: $(bindgen --version 2>/dev/null | head -n1)"
echo "  clang:   $("clang$LLVM_SUFFIX" --version | head -n1)"
echo "  qemu:    $(qemu-system-x86_64 --version | head -n1)"
