#!/usr/bin/env bash
# Fetch Debian's bdwgc (the Boehm-Demers-Weiser garbage collector) for the guest
# and build its own test program, gctest, against Debian's library. Prints the
# directory that holds:
#   gctest       tests/test.c of Debian's `libgc` source package, built as the
#                package's `make check` builds it (below), linked against
#                Debian's libgc.so.1 with $ORIGIN as its run path: the guest
#                loads the library beside it
#   gctest-small the same with NTHREADS=1 (test.c's own knob: one thread
#                beside main instead of five): a third of the work, for make
#                check's runs; `make bench` times gctest
#   libgc.so.1   from Debian's `libgc1` binary package (not the machine's: a
#                fresh machine need not have it), so the guest runs the
#                collector exactly as Debian built it
#   from         the package versions
# Both packages are the version BDWGC_VERSION names, from the machine's own
# Debian suite (bookworm: 1:8.2.2-3), fetched through an apt configuration of
# its own (qemu/apt.sh: one deb and one deb-src line for the machine's mirror
# and suite, own state and cache directories), as the kernel is fetched:
# nothing is installed and the machine's apt setup is not touched. Only the
# three files are kept, in the cache; the unpacked source is removed.
# Usage: fetch-bdwgc.sh
source "$(dirname "$0")/../common.sh"
source "$QEMU_DIR/apt.sh"

BDWGC_VERSION=1:8.2.2-3
APTDIR=$CACHE/apt-libgc
dest=$CACHE/bdwgc/${BDWGC_VERSION//:/_}
if [ -x "$dest/gctest" ] && [ -x "$dest/gctest-small" ] && [ -f "$dest/libgc.so.1" ]; then
	echo "$dest"
	exit 0
fi
apt_need_dpkg_source
log "fetching Debian's libgc $BDWGC_VERSION (source and libgc1)"
apt_isolated "$APTDIR" "$(apt_machine_suite)" "deb deb-src"
mkdir -p "$APTDIR/work"
work=$APTDIR/work
rm -rf "${work:?}"/*
# apt checks every file against the hashes of the archive's signed indexes;
# dpkg-source checks the source's files against the .dsc and applies Debian's
# patches.
(cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "libgc=$BDWGC_VERSION" >&2 &&
	apt-get "${APT_OPTS[@]}" download "libgc1=$BDWGC_VERSION" >&2) ||
	die "libgc $BDWGC_VERSION is not on the machine's mirror"
dsc=$(ls "$work"/libgc_*.dsc | head -n1)
deb=$(ls "$work"/libgc1_*.deb | head -n1)
[ -f "$dsc" ] && [ -f "$deb" ] || die "apt fetched no libgc .dsc or libgc1 .deb"
(cd "$work" && dpkg-source -x "$dsc" tree >&2)
dpkg-deb -x "$deb" "$work/deb"
lib=$(ls "$work"/deb/usr/lib/*/libgc.so.1 | head -n1)
[ -f "$lib" ] || die "no libgc.so.1 in $deb"
tree=$work/tree
[ -f "$tree/tests/test.c" ] || die "no tests/test.c in $dsc"

# gctest as the package's `make check` builds it: tests/test.c includes the
# collector's private headers, so it is compiled with the config.h that
# Debian's configure line (debian/rules, COMMON_CONFIG and the shared build)
# makes: threads (GC_THREADS), parallel marking, thread-local allocation,
# HANDLE_FORK, ... Left out: --enable-cplusplus and --with-tags=CXX (they
# need g++ and only add libgccpp), --enable-docs and the install paths
# (nothing is installed). The incremental mode is what test.c turns on by
# itself; which way the library finds written pages (soft-dirty, else
# mprotect) is decided inside the library, at run time.
syms=$(nm -D "$lib")
grep -q ' T GC_pthread_create$' <<<"$syms" || die "$lib is not a threads build"
mkdir -p "$work/build" "$work/out"
(cd "$work/build" && "$tree/configure" --disable-dependency-tracking --prefix=/usr \
	--with-libatomic-ops=none --enable-shared --disable-static) >"$work/configure.log" 2>&1 ||
	{ tail -n 20 "$work/configure.log" >&2; die "libgc's configure fails"; }
grep -q '^#define GC_THREADS 1$' "$work/build/include/config.h" ||
	die "libgc's configure made no threads build"
cp "$lib" "$work/out/libgc.so.1"
grep -q '^#ifndef NTHREADS' "$tree/tests/test.c" || die "tests/test.c has no NTHREADS to set"
for t in gctest:5 gctest-small:1; do
	gcc -O2 -fexceptions -DHAVE_CONFIG_H -DNTHREADS="${t#*:}" -I "$work/build/include" \
		-I "$tree/include" -o "$work/out/${t%:*}" "$tree/tests/test.c" "$work/out/libgc.so.1" \
		-Wl,-rpath,'$ORIGIN' -lpthread >"$work/gcc.log" 2>&1 ||
		{ cat "$work/gcc.log" >&2; die "${t%:*} does not build against $lib"; }
done
printf '%s\n%s\n' "$(basename "$dsc")" "$(basename "$deb")" >"$work/out/from"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$work/out" "$dest"
rm -rf "${work:?}"/*
echo "$dest"
