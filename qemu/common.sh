# Shared settings for the scripts in qemu/ and its folders (kernel/, guest/,
# verdict/, bench/). Source it; do not run it.
# Everything heavy lives in a cache outside the clone so that CI and later
# sessions reuse it; RUST_PAGEMAP_CACHE overrides where.
set -euo pipefail

QEMU_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$QEMU_DIR/.." && pwd)
CACHE=${RUST_PAGEMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust-pagemap}
KERNEL_PKG=linux-source-7.3
KERNEL_SUITE=trixie-backports
LLVM_SUFFIX=-19
CARGO_ROOT=$CACHE/cargo
BINDGEN_VERSION=0.71.1

export PATH="$CARGO_ROOT/bin:$PATH"
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export RUSTC=/usr/bin/rustc

mkdir -p "$CACHE"

log() { printf '[qemu] %s\n' "$*" >&2; }
die() { printf '[qemu] error: %s\n' "$*" >&2; exit 1; }

# Copies the module's sources to DEST, for a build of its own (another kernel, a
# mutant): what Kbuild needs, without this tree's generated files.
copy_module_sources() {
	cp -r "$TOP/Kbuild" "$TOP/rust_pagemap.rs" "$TOP/walk" "$TOP/uapi" "$1/" &&
		rm -f "$1/walk/uapi_generated.rs" "$1/walk/.uapi_generated.rs.cmd"
}

# Make flags every kernel or module build uses.
kmake_flags() {
	printf '%s\n' "LLVM=$LLVM_SUFFIX" "RUSTC=$RUSTC" "BINDGEN=$CARGO_ROOT/bin/bindgen" \
		"RUSTFMT=/usr/bin/rustfmt" "CLIPPY_DRIVER=/usr/bin/clippy-driver"
}
