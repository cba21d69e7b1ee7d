#!/usr/bin/env bash
# Build rust_pagemap.ko against a Rust-enabled kernel build directory.
# Usage: build-module.sh KDIR [VAR=VALUE ...] [TARGET]
#   TARGET: modules (default) or modules_install (into KDIR's release under
#   INSTALL_MOD_PATH, default /, with depmod)
source "$(dirname "$0")/../common.sh"
kdir=$1
shift
target=modules
if [ $# -gt 0 ] && [ "${!#}" = modules_install ]; then
	target=modules_install
	set -- "${@:1:$#-1}"
fi
mapfile -t KF < <(kmake_flags)
make -s -C "$kdir" M="$TOP" ARCH=x86_64 "${KF[@]}" "$@" "$target" >&2
