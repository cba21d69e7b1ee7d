#!/usr/bin/env bash
# Build the test kernel: pristine Debian source + qemu/patches + tinyconfig and
# qemu/kernel.config. The build lives in the cache under a key that hashes
# everything that shapes it, so a second run with nothing changed rebuilds
# nothing. Prints the build (object) directory.
source "$(dirname "$0")/common.sh"

# Bump when the recipe below changes in a way that changes the result.
RECIPE=1

"$QEMU_DIR/setup-toolchain.sh"
SRC=$("$QEMU_DIR/fetch-kernel.sh")
kver=$(basename "$SRC")
key=$({
	echo "$kver"
	echo "recipe $RECIPE"
	cat "$QEMU_DIR/kernel.config"
	cat "$QEMU_DIR"/patches/*.patch
	"$RUSTC" --version; bindgen --version; "clang$LLVM_SUFFIX" --version | head -n1
} | sha256sum | cut -c1-16)
OUT=$CACHE/kernel/$kver-$key

if [ -f "$OUT/.done" ]; then
	echo "$OUT/obj"
	exit 0
fi

# One build at a time: a second caller waits for the first and then reuses it.
exec 9>"$CACHE/kernel-build.lock"
flock 9
if [ -f "$OUT/.done" ]; then
	echo "$OUT/obj"
	exit 0
fi

log "building kernel $kver (key $key) in $OUT; this takes about 10 minutes on 2 cores"
rm -rf "$OUT"
mkdir -p "$OUT"
# Hard-linked copy of the pristine tree; patch(1) replaces files it changes
# instead of writing through the links, so the pristine tree stays intact.
cp -al "$SRC" "$OUT/src"
for p in "$QEMU_DIR"/patches/*.patch; do
	log "applying $(basename "$p")"
	patch -s -p1 -d "$OUT/src" <"$p"
done

mapfile -t KF < <(kmake_flags)
km() { make -s -C "$OUT/src" O="$OUT/obj" ARCH=x86_64 "${KF[@]}" "$@"; }

mkdir -p "$OUT/obj"
km rustavailable >&2 || die "the Rust toolchain is not usable for this kernel (make rustavailable)"
km tinyconfig >/dev/null
"$OUT/src/scripts/kconfig/merge_config.sh" -m -O "$OUT/obj" "$OUT/obj/.config" "$QEMU_DIR/kernel.config" >/dev/null
km olddefconfig >/dev/null

# Every symbol the fragment asks for must have survived Kconfig.
bad=0
while IFS= read -r line; do
	case "$line" in CONFIG_*=y) ;; *) continue ;; esac
	grep -qx "$line" "$OUT/obj/.config" || { log "config: $line was not applied"; bad=1; }
done <"$QEMU_DIR/kernel.config"
[ "$bad" = 0 ] || die "kernel config fragment not fully applied"

km -j"$(nproc)" bzImage modules >&2
touch "$OUT/.done"
# Keep the three newest builds (several GiB each): older worktrees or
# branches may still use one, anything older is dead weight.
ls -dt "$CACHE/kernel/$kver"-* | tail -n +4 | xargs -r rm -rf
echo "$OUT/obj"
