#!/usr/bin/env bash
# Fetch qemu-plugin.h, the TCG plugin API header of the QEMU the guests run, and
# print the directory that holds it.
#
# No Debian 12 binary package ships the header (apt-file: no package has a
# qemu-plugin.h; there is no qemu-dev package), so it comes from Debian's `qemu`
# source package, the version of the installed qemu-system-x86 (any 7.2 if that
# one is no longer on the mirror: the API, version 1, is the same in all of 7.2).
# The source is fetched through an apt configuration of its own (qemu/apt.sh:
# deb-src lines for the machine's mirror, its suite and the suite's updates,
# own state and cache directories), as the kernel is fetched: the machine's apt
# setup is not touched.
# Only the header is kept, in the cache; the unpacked source is removed.
source "$(dirname "$0")/../common.sh"
source "$QEMU_DIR/apt.sh"

APTDIR=$CACHE/apt-qemu-src
srcver=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null || true)
[ -n "$srcver" ] || die "qemu-system-x86 is not installed (qemu/kernel/setup-toolchain.sh installs it)"
dest=$CACHE/qemu-plugin-api/${srcver//:/_}
if [ -f "$dest/qemu-plugin.h" ]; then
	echo "$dest"
	exit 0
fi
apt_need_dpkg_source
log "fetching Debian's qemu source package ($srcver) for qemu-plugin.h"
suite=$(apt_machine_suite)
apt_isolated "$APTDIR" "$suite $suite-updates" deb-src
mkdir -p "$APTDIR/src"
work=$APTDIR/src
rm -rf "${work:?}"/*
if ! (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "qemu=$srcver" >&2); then
	log "qemu $srcver is not on the mirror; taking the version it has (checked: 7.2)"
	(cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only qemu >&2)
fi
dsc=$(ls "$work"/qemu_*.dsc | head -n1)
[ -f "$dsc" ] || die "apt-get source qemu fetched no .dsc"
# apt checked the files against the hashes of the archive's signed Sources index;
# dpkg-source checks them against the .dsc (whose own signature it cannot check without
# debian-keyring, and says so) and applies Debian's patches.
(cd "$work" && dpkg-source -x "$dsc" tree >&2)
hdr=$work/tree/include/qemu/qemu-plugin.h
[ -f "$hdr" ] || die "no include/qemu/qemu-plugin.h in $dsc"
grep -q '^#define QEMU_PLUGIN_VERSION 1$' "$hdr" || die "$dsc: not plugin API version 1"
mkdir -p "$dest"
cp "$hdr" "$dest/"
basename "$dsc" >"$dest/from"
rm -rf "${work:?}"/*
echo "$dest"
