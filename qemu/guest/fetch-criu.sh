#!/usr/bin/env bash
# Fetch Debian's CRIU for the guest and print the directory that holds:
#   criu        /usr/sbin/criu of Debian's `criu` binary package
#   lib/        every shared library criu loads, glibc's loader and libc
#               included: the closure of its DT_NEEDED entries, resolved by
#               soname in the libraries of the packages below
#   from        the package versions
# The guest runs it with its own loader, apart from the host's glibc the
# other programs use:
#   DIR/lib/ld-linux-x86-64.so.2 --library-path DIR/lib DIR/criu ARGS...
# Which CRIU: trixie's, 4.1.1 (the suite the test kernel comes from, through
# trixie-backports). Bookworm's 3.17.1 cannot run on this kernel: its kerndat
# finds the vDSO and [vvar] apart (the kernel maps [vvar_vclock] between them
# since 6.13) and fails every command ("vdso: Unexpected rt vDSO area
# bounds"; CRIU 4.1 handles it, 8ee2eba47). Trixie's criu needs trixie's
# glibc, hence its own loader.
# The packages are fetched through an apt configuration of its own
# (qemu/apt.sh): nothing is installed on the machine, and the .debs are only
# unpacked (dpkg-deb -x) into a temporary directory; the cache keeps the
# result.
# CRIU_PACKAGES is criu and the library packages its closure needs (Debian's
# Depends of criu, without python3-pycriu, which only crit uses, and then
# theirs). A soname that none of them has fails the fetch by name, and so does
# a package that gives the closure nothing, so the list is exactly what criu
# needs.
# Usage: fetch-criu.sh
source "$(dirname "$0")/../common.sh"
source "$QEMU_DIR/apt.sh"

CRIU_SUITE=trixie
CRIU_PACKAGES=(criu libc6 libbsd0 libmd0 libgnutls30t64 libnet1 libnftables1 libnl-3-200
	libprotobuf-c1 libuuid1 libgmp10 libhogweed6t64 libidn2-0 libnettle8t64 libp11-kit0 libtasn1-6
	libunistring5 libffi8 libjansson4 libmnl0 libnftnl11 libxtables12)

dest=$CACHE/criu/$CRIU_SUITE-$(echo "${CRIU_PACKAGES[*]}" | sha256sum | cut -c1-12)
if [ -x "$dest/criu" ] && [ -f "$dest/from" ] && [ -d "$dest/lib" ]; then
	echo "$dest"
	exit 0
fi
APTDIR=$CACHE/apt-criu
apt_isolated "$APTDIR" "$CRIU_SUITE" deb
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/debs" "$work/unpacked" "$work/out/lib"
log "fetching Debian's criu and its libraries: ${CRIU_PACKAGES[*]}"
(cd "$work/debs" && apt-get "${APT_OPTS[@]}" download "${CRIU_PACKAGES[@]}" >&2) ||
	die "apt could not download ${CRIU_PACKAGES[*]}"
for deb in "$work"/debs/*.deb; do
	dpkg-deb -x "$deb" "$work/unpacked"
done
[ -x "$work/unpacked/usr/sbin/criu" ] || die "no usr/sbin/criu in Debian's criu package"
cp "$work/unpacked/usr/sbin/criu" "$work/out/criu"

# The closure of DT_NEEDED, breadth first, from criu.
find_lib() { # SONAME: its path in the unpacked packages
	find "$work/unpacked" -name "$1" \( -type f -o -type l \) | head -n 1
}
todo=("$work/out/criu")
while [ "${#todo[@]}" -gt 0 ]; do
	f=${todo[0]}
	todo=("${todo[@]:1}")
	for so in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
		[ -e "$work/out/lib/$so" ] && continue
		p=$(find_lib "$so")
		[ -n "$p" ] || die "criu needs $so (from $(basename "$f")), which none of CRIU_PACKAGES has"
		cp -L "$p" "$work/out/lib/$so"
		todo+=("$work/out/lib/$so")
	done
done
for deb in "$work"/debs/*.deb; do
	dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb"
done >"$work/out/from"
# Each package must have given something the closure uses, or it is not needed.
for pkg in "${CRIU_PACKAGES[@]}"; do
	case "$pkg" in criu | libc6) continue ;; esac
	deb=$(ls "$work"/debs/"${pkg}"_*.deb)
	used=no
	for so in $(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed -n 's|.*/\(lib[^/]*\.so\.[0-9][^/]*\)$|\1|p'); do
		[ -e "$work/out/lib/$so" ] && used=yes
	done
	[ "$used" = yes ] || die "$pkg gives criu no library it needs: take it out of CRIU_PACKAGES"
done
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$work/out" "$dest"
[ -f "$dest/lib/ld-linux-x86-64.so.2" ] || die "criu's closure has no ld-linux-x86-64.so.2"
"$dest/lib/ld-linux-x86-64.so.2" --library-path "$dest/lib" "$dest/criu" --version >/dev/null ||
	die "criu does not start with its own loader and libraries"
log "criu: $(head -n 1 "$dest/from"), $(ls "$dest/lib" | wc -l) libraries"
echo "$dest"
