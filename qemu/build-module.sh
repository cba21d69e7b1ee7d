#!/usr/bin/env bash
# Build rust_pagemap.ko against a Rust-enabled kernel build directory.
# Usage: build-module.sh KDIR [extra make arguments]
source "$(dirname "$0")/common.sh"
kdir=$1
shift
mapfile -t KF < <(kmake_flags)
make -s -C "$kdir" M="$TOP" ARCH=x86_64 "${KF[@]}" "$@" modules >&2
