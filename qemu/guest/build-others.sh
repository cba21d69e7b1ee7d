#!/usr/bin/env bash
# Build what the guest needs to run other people's programs on the device:
# librpm_redirect.so, the kernel's own mm selftests that read pagemap or clear
# soft-dirty, tools/mm/page-types, the process page-types looks at, and the
# host's dynamic loader and libc for all of them (the rest of the guest is
# static). The result is an overlay for the initramfs root:
#   OUT/others/        guest-others.sh, librpm_redirect.so, page-types, varied,
#                      lib_redirect (the library's own tests, selftests/redirect/)
#   OUT/others/mm/     the mm selftests
#   OUT/others/gc/     bdwgc's gctest (and gctest-small) and Debian's libgc.so.1
#                      they load
#                      (fetch-bdwgc.sh; cached)
#   OUT/others/criu/   Debian's criu with its own loader and libraries
#                      (fetch-criu.sh; cached)
#   OUT/lib*/...       ld-linux-x86-64.so.2, libc.so.6, ... (found with ldd)
# Usage: build-others.sh KERNEL_OBJ_DIR OUT
# The programs are built with the host gcc against the test kernel's exported
# headers, as build-tests.sh builds ours; the sources come from the
# downloaded kernel tree (read only: every output goes to OUT or a temp dir).
source "$(dirname "$0")/../common.sh"
kobj=$1 out=$(realpath -m "$2")
src=$(readlink -f "$kobj/source" 2>/dev/null || true)
[ -d "$src/tools/testing/selftests/mm" ] || src=$("$QEMU_DIR/kernel/fetch-kernel.sh")
mm=$src/tools/testing/selftests/mm

# The mm selftests run in make check (guest-others.sh has the list and the
# arguments); each builds from its own file plus the helpers its Makefile adds.
MM_TESTS=(soft-dirty cow guard-regions mkdirty uffd-wp-mremap split_huge_page_test
	pagemap_ioctl madv_populate)

if [ ! -f "$kobj/usr/include/linux/fs.h" ]; then
	make -s -C "$kobj" ARCH=x86_64 LLVM="$LLVM_SUFFIX" headers >&2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$out"
mkdir -p "$out/others/mm"

# The flags of the mm Makefile and lib.mk; liburing is left out (the test
# kernel has no io_uring), as check_config.sh would decide on a host without it.
echo "// No liburing support found" >"$tmp/local_config.h_gen"
MMFLAGS=(-Wall -O2 -U_FORTIFY_SOURCE -D_GNU_SOURCE= -isystem "$kobj/usr/include"
	-isystem "$src/tools/include/uapi" -I "$src" -I "$src/tools/testing/selftests" -I "$tmp")
# soft-dirty is built with 1,000 rounds in its two loops of clear_refs and
# pagemap reads instead of 10,000: under TCG with KASAN 10,000 take more than
# the 240 s a run gets (README: "In make check"). Nothing else is changed.
SOFT_DIRTY_ROUNDS=1000
for t in "${MM_TESTS[@]}"; do
	extra=()
	[ "$t" = uffd-wp-mremap ] && extra=(uffd-common.c)
	main=$t.c
	if [ "$t" = soft-dirty ]; then
		main=$tmp/soft-dirty.c
		sed "s/^#define TEST_ITERATIONS 10000\$/#define TEST_ITERATIONS $SOFT_DIRTY_ROUNDS/" \
			"$mm/soft-dirty.c" >"$main"
		grep -q "^#define TEST_ITERATIONS $SOFT_DIRTY_ROUNDS\$" "$main" ||
			die "soft-dirty.c: no TEST_ITERATIONS 10000 to lower"
	fi
	# From the test's directory: __FILE__ names files some tests create in
	# the working directory (pagemap_ioctl).
	(cd "$mm" && gcc "${MMFLAGS[@]}" -I "$mm" -o "$out/others/mm/$t" "$main" vm_util.c \
		hugepage_settings.c "${extra[@]}" -lrt -lpthread -lm) 2>"$tmp/$t.log" ||
		{ cat "$tmp/$t.log" >&2; die "mm selftest $t does not build"; }
done

# page-types, with the tools' libapi built out of tree.
mkdir -p "$tmp/api"
make -s -C "$src/tools/lib/api" OUTPUT="$tmp/api/" >"$tmp/api.log" 2>&1 ||
	{ cat "$tmp/api.log" >&2; die "tools/lib/api does not build"; }
gcc -O2 -Wall -I "$src/tools/lib" -pthread -o "$out/others/page-types" \
	"$src/tools/mm/page-types.c" "$tmp/api/libapi.a" 2>"$tmp/page-types.log" ||
	{ cat "$tmp/page-types.log" >&2; die "page-types does not build"; }

# Ours: the library and the process page-types walks.
gcc -shared -fPIC -O2 -g -Wall -Wextra -Werror -fvisibility=hidden -isystem "$kobj/usr/include" \
	-o "$out/others/librpm_redirect.so" "$TOP/uapi/librpm_redirect.c" -ldl ||
	die "librpm_redirect.so does not build"
gcc -O2 -g -Wall -Wextra -Werror -isystem "$kobj/usr/include" \
	-o "$out/others/varied" "$TOP/selftests/redirect/varied.c" || die "varied does not build"
gcc -O2 -g -Wall -Wextra -Werror -pthread -o "$out/others/criu_tree" \
	"$TOP/selftests/redirect/criu_tree.c" || die "criu_tree does not build"
gcc -O2 -g -Wall -Werror -Wno-unused-function -isystem "$kobj/usr/include" \
	-I "$src/tools/testing/selftests" -o "$out/others/lib_redirect" \
	"$TOP/selftests/redirect/lib_redirect.c" || die "lib_redirect does not build"
# bdwgc: Debian's collector and its own test, built once and cached.
gc=$("$QEMU_DIR/guest/fetch-bdwgc.sh") || die "bdwgc's gctest is not available"
mkdir -p "$out/others/gc"
cp "$gc/gctest" "$gc/gctest-small" "$gc/libgc.so.1" "$gc/from" "$out/others/gc/"
# CRIU: Debian's, with the libraries it loads, fetched once and cached.
criu=$("$QEMU_DIR/guest/fetch-criu.sh") || die "Debian's criu is not available"
mkdir -p "$out/others/criu"
cp -r "$criu/criu" "$criu/lib" "$criu/from" "$out/others/criu/"
cp "$QEMU_DIR/guest/guest-others.sh" "$out/others/guest-others.sh"
chmod +x "$out/others/guest-others.sh"

# The dynamic loader and every library the programs load, at the paths ldd
# names (the loader's built-in search path finds them there); a library
# already in OUT (libgc.so.1, found through gctest's $ORIGIN) stays where it is.
# CRIU brings its own loader and libraries (fetch-criu.sh): not the host's.
find "$out/others" -path "$out/others/criu" -prune -o -type f \( -perm -u+x -o -name '*.so' \) -print |
	while read -r f; do
		# scripts are not dynamic executables: ldd says so and fails
		! head -c 4 "$f" | grep -q ELF || ldd "$f"
	done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u |
	while read -r lib; do
		case "$lib" in "$out"/*) continue ;; esac
		mkdir -p "$out$(dirname "$lib")"
		cp -L "$lib" "$out$lib"
	done
[ -n "$(find "$out" -name 'ld-linux-x86-64.so.2')" ] || die "no dynamic loader found with ldd"
[ -n "$(find "$out" -name 'libc.so.6')" ] || die "no libc found with ldd"
