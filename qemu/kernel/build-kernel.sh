#!/usr/bin/env bash
# Build the test kernel: pristine Debian source + qemu/kernel/patches +
# tinyconfig, qemu/kernel/kernel.config and the flavour's fragment.
# Usage: build-kernel.sh [debug|perf]
#   debug (default)  KASAN, lockdep, DEBUG_VM, kmemleak, ...: `make check` runs on it
#   perf             no debug options, -O2: `make bench` runs on it
# The build lives in the cache under a key that hashes everything that shapes
# it, so a second run with nothing changed rebuilds nothing. Prints the build
# (object) directory.
source "$(dirname "$0")/../common.sh"
HERE=$QEMU_DIR/kernel

# Bump when the recipe below changes in a way that changes the result.
RECIPE=2
FLAVOUR=${1:-debug}
FRAGMENT=$HERE/kernel-$FLAVOUR.config
[ -f "$FRAGMENT" ] || die "unknown kernel flavour $FLAVOUR (debug or perf)"

"$HERE/setup-toolchain.sh"
SRC=$("$HERE/fetch-kernel.sh")
kver=$(basename "$SRC")
key=$({
	echo "$kver"
	echo "recipe $RECIPE $FLAVOUR"
	cat "$HERE/kernel.config" "$FRAGMENT"
	cat "$HERE"/patches/*.patch
	"$RUSTC" --version; bindgen --version; "clang$LLVM_SUFFIX" --version | head -n1
} | sha256sum | cut -c1-16)
OUT=$CACHE/kernel/$kver-$FLAVOUR-$key

if [ -f "$OUT/.done" ]; then
	echo "$OUT/obj"
	exit 0
fi

# One build of a key at a time: a second caller waits for the first and then
# reuses it. Builds of other keys (the other flavour) go on meanwhile:
# `make check` builds both flavours at once, so that one's serial stretches
# (rustc on the kernel crate, the links of vmlinux) overlap the other's.
mkdir -p "$CACHE/kernel"
exec 9>"$CACHE/kernel/.lock-$kver-$FLAVOUR-$key"
flock 9
if [ -f "$OUT/.done" ]; then
	echo "$OUT/obj"
	exit 0
fi

log "building the $FLAVOUR kernel $kver (key $key) in $OUT; this takes about 10 minutes on 2 cores"
rm -rf "$OUT"
mkdir -p "$OUT"
# Hard-linked copy of the pristine tree; patch(1) replaces files it changes
# instead of writing through the links, so the pristine tree stays intact.
cp -al "$SRC" "$OUT/src"
for p in "$HERE"/patches/*.patch; do
	log "applying $(basename "$p")"
	patch -s -p1 -d "$OUT/src" <"$p"
done

mapfile -t KF < <(kmake_flags)
km() { make -s -C "$OUT/src" O="$OUT/obj" ARCH=x86_64 "${KF[@]}" "$@"; }

mkdir -p "$OUT/obj"
km rustavailable >&2 || die "the Rust toolchain is not usable for this kernel (make rustavailable)"
km tinyconfig >/dev/null
"$OUT/src/scripts/kconfig/merge_config.sh" -m -O "$OUT/obj" "$OUT/obj/.config" "$HERE/kernel.config" "$FRAGMENT" >/dev/null
km olddefconfig >/dev/null

# Every symbol the fragment asks for must have survived Kconfig.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*) grep -qx "$line" "$OUT/obj/.config" || { log "config: $line was not applied"; bad=1; } ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" "$OUT/obj/.config" || { log "config: $sym is still set"; bad=1; } ;;
	esac
done < <(cat "$HERE/kernel.config" "$FRAGMENT")
[ "$bad" = 0 ] || die "kernel config fragment not fully applied"

km -j"$(nproc)" bzImage modules >&2
touch "$OUT/.done"
# Keep the three newest builds of each flavour (several GiB each): older
# worktrees or branches may still use one, anything older is dead weight.
ls -dt "$CACHE/kernel/$kver-$FLAVOUR"-* | tail -n +4 | xargs -r rm -rf
echo "$OUT/obj"
