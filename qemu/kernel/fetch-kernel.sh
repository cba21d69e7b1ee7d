#!/usr/bin/env bash
# Fetch Debian's linux-source package for the test kernel and unpack it into the
# cache. The package comes from a newer suite than the machine runs, so it is
# fetched through an apt configuration of its own (qemu/apt.sh: own sources
# list, state and cache directories): nothing from that suite is ever
# installed on the system.
# Prints the path of the unpacked source tree.
source "$(dirname "$0")/../common.sh"
source "$QEMU_DIR/apt.sh"

APTDIR=$CACHE/apt
SRCROOT=$CACHE/src

existing=$(ls -d "$SRCROOT"/linux-source-*/ 2>/dev/null | head -n1 || true)
if [ -n "$existing" ] && [ -f "$existing/Makefile" ]; then
	echo "${existing%/}"
	exit 0
fi

log "fetching $KERNEL_PKG from $KERNEL_SUITE via the machine's mirror"
apt_isolated "$APTDIR" "$KERNEL_SUITE" deb
mkdir -p "$APTDIR/debs"
(cd "$APTDIR/debs" && rm -f ./*.deb && apt-get "${APT_OPTS[@]}" download "$KERNEL_PKG" >&2)
deb=$(ls "$APTDIR"/debs/"$KERNEL_PKG"_*.deb | head -n1)
[ -f "$deb" ] || die "download of $KERNEL_PKG failed"

rm -rf "$APTDIR/unpack" && mkdir -p "$APTDIR/unpack"
dpkg-deb -x "$deb" "$APTDIR/unpack"
tarball=$(ls "$APTDIR"/unpack/usr/src/linux-source-*.tar.* | head -n1)
[ -f "$tarball" ] || die "no source tarball inside $deb"
mkdir -p "$SRCROOT"
tar -C "$SRCROOT" -xf "$tarball"
rm -rf "$APTDIR/unpack"
dir=$(ls -d "$SRCROOT"/linux-source-*/ | head -n1)
echo "${dir%/}"
