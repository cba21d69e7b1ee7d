#!/usr/bin/env bash
# `make bench`: time /dev/rust_pagemap against the kernel's own pagemap,
# PAGEMAP_SCAN and clear_refs on the performance kernel (no KASAN, lockdep or
# DEBUG_VM; ACPI, so two CPUs and a real clocksource), then write
# build/bench/results.md, results.csv and bench.svg.
# Sizes: BENCH_ARGS="DENSE_MIB SWEEP_MAX_MIB CLEAR_MIB [SPARSE_GIB]" overrides the defaults
# (smaller under TCG, where every guest instruction is emulated).
# BENCH_KDIR=DIR uses that kernel build instead of the perf kernel (labelled as such).
# BENCH_BASELINE=REV also times the module of git revision REV, first, in the same
# boot; results.md then shows both.
# BENCH_ONLY=GROUP,GROUP runs only those workload groups (bench.c's bench_* names without
# the prefix, e.g. read_dense,clears), to time again what a change touched.
# BENCH_RANGE_MIB=N: what the clear_range_big group populates around its 2 MiB ranged
# clear (default 1024).
# Instruction counts: QEMU runs the rpm-icount TCG plugin (qemu/bench/icount-plugin.c), which
# logs every vCPU's kernel instruction count at bench.c's markers to
# build/bench/icount.log; bench-report.py pairs them (iratio). BENCH_COUNT=0 boots without it.
# Then bdwgc's own figure: gctest (qemu/guest/fetch-bdwgc.sh) runs BENCH_GC_RUNS times (default
# 9) on /proc and as many through librpm_redirect.so, interleaved, in the same boot;
# `ratio gc_collections` is the median of its total collection time through the device over
# the median on /proc (BENCH_ONLY runs it only if it names `gc`); with the plugin, two more
# runs each way, untimed, between markers (qemu/bench/mark-run.c) give `iratio
# gc_collections`: the kernel instructions of all vCPUs per collection, device / /proc.
# BENCH_ALIGN=1 builds the module with every function on a 4 KiB page of its own
# (-align-all-functions=12): a layout that helps only under TCG (a jump across a guest page
# is not chained), for a time-only experiment; the results say so. The module users build
# has no such option.
# The boot takes the machine-wide QEMU lock (/tmp/rpm-qemu.lock): one guest at a time.
source "$(dirname "$0")/../common.sh"
OUT=$TOP/build/bench

"$QEMU_DIR/kernel/setup-toolchain.sh"
flavour=perf
if [ -n "${BENCH_KDIR:-}" ]; then
	# Another kernel build (for a quick look only: a debug kernel's KASAN slows the
	# kernel's C as much as the module and hides the difference).
	kobj=$BENCH_KDIR
	grep -q '^CONFIG_KASAN=y' "$kobj/.config" && flavour="debug (KASAN, lockdep: not representative)"
else
	kobj=$("$QEMU_DIR/kernel/build-kernel.sh" perf)
fi
mkdir -p "$TOP/build"
{
	"$QEMU_DIR/kernel/versions.sh" "$kobj"
	rev=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
	git -C "$TOP" diff --quiet HEAD -- Kbuild rust_pagemap.rs walk 2>/dev/null || rev="$rev + uncommitted changes"
	align=
	[ "${BENCH_ALIGN:-0}" = 1 ] &&
		align=", BENCH_ALIGN=1: every function on a 4 KiB page of its own (emulator-only layout, for times only)"
	echo "  module:  rust_pagemap $rev$align"
} | tee "$TOP/build/bench-versions.txt"

rm -rf "$OUT"
mkdir -p "$OUT/module" "$OUT/guest"
# The module is built from a copy of the sources, so that the in-tree build
# (which make check loads into the debug kernel) is left alone.
log "building rust_pagemap.ko for that kernel"
copy_module_sources "$OUT/module"
if [ "${BENCH_ALIGN:-0}" = 1 ]; then
	# Time-only experiment: under TCG a hot loop that straddles a guest page runs up to twice
	# as slow (the jump back is looked up, not chained); with every function on a page of its
	# own, no loop of a function smaller than a page straddles one. Counts do not change.
	echo 'rustflags-y += -Cllvm-args=-align-all-functions=12' >>"$OUT/module/Kbuild"
fi
mapfile -t KF < <(kmake_flags)
make -s -C "$kobj" M="$OUT/module" ARCH=x86_64 "${KF[@]}" modules >&2
if [ -n "${BENCH_BASELINE:-}" ]; then
	# The same benchmark with the module of another revision first, in the same boot:
	# before/after figures that share the guest, the host load and the kernel.
	log "building rust_pagemap.ko of $BENCH_BASELINE as the baseline"
	mkdir -p "$OUT/baseline"
	git -C "$TOP" archive "$BENCH_BASELINE" Kbuild rust_pagemap.rs walk uapi | tar -x -C "$OUT/baseline"
	make -s -C "$kobj" M="$OUT/baseline" ARCH=x86_64 "${KF[@]}" modules >&2
	cp "$OUT/baseline/rust_pagemap.ko" "$OUT/guest/rust_pagemap_baseline.ko"
fi
log "building the benchmark"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$QEMU_DIR/guest/build-tests.sh" "$kobj" "$tmp" "$OUT/bin"
cp "$tmp/rust_pagemap/bench" "$OUT/guest/bench"

plugin_args=()
if [ "${BENCH_COUNT:-1}" != 0 ]; then
	log "building the instruction-counting TCG plugin"
	plugin=$("$QEMU_DIR/bench/build-plugin.sh" "$OUT/plugin")
	plugin_args=(-plugin "$plugin,outfile=$OUT/icount.log")
fi

overlay=()
if [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *,gc,* ]]; then
	log "building bdwgc's gctest and the redirect library"
	"$QEMU_DIR/guest/build-others.sh" "$kobj" "$OUT/others"
	gcc -shared -fPIC -O2 -g -Wall -Wextra -Werror -fvisibility=hidden \
		-o "$OUT/others/others/gc/libgc_calls.so" "$TOP/qemu/bench/gc-calls.c" -ldl ||
		die "libgc_calls.so does not build"
	# The markers around its counted runs (iratio gc_collections), only with the plugin.
	if [ ${#plugin_args[@]} -gt 0 ]; then
		gcc -O2 -Wall -Wextra -Werror -static -o "$OUT/others/others/gc/mark-run" \
			"$TOP/qemu/bench/mark-run.c" || die "mark-run does not build"
	fi
	overlay=("$OUT/others")
	echo "${BENCH_GC_RUNS:-9}" >"$OUT/guest/gc.runs"
fi

kernel=$kobj/arch/x86/boot/bzImage
"$QEMU_DIR/guest/mkinitramfs.sh" "$OUT/initramfs.cpio.gz" "$OUT/module/rust_pagemap.ko" "$OUT/guest" "$OUT/bin" \
	"${overlay[@]}"
accel=TCG
[ "$("$QEMU_DIR/guest/kvm-probe.sh" "$kernel" "$OUT/initramfs.cpio.gz")" = yes ] && accel=KVM
if [ -z "${BENCH_ARGS:-}" ]; then
	if [ "$accel" = KVM ]; then BENCH_ARGS="1024 4096 1024"; else BENCH_ARGS="256 1024 256"; fi
fi
echo "$BENCH_ARGS${BENCH_RANGE_MIB:+ range_mib=$BENCH_RANGE_MIB}${BENCH_ONLY:+ only=$BENCH_ONLY}" >"$OUT/guest/bench.args"
"$QEMU_DIR/guest/mkinitramfs.sh" "$OUT/initramfs.cpio.gz" "$OUT/module/rust_pagemap.ko" "$OUT/guest" "$OUT/bin" \
	"${overlay[@]}"

log "booting the $flavour kernel ($accel, sizes in MiB: $BENCH_ARGS${BENCH_ONLY:+, only $BENCH_ONLY}); the run takes a few minutes"
if [ "$accel" = KVM ] && [ ${#plugin_args[@]} -gt 0 ]; then
	log "KVM: TCG plugins do not run under KVM; no instruction counts"
	plugin_args=()
fi
RPM_QEMU_ARGS="${plugin_args[*]}" flock /tmp/rpm-qemu.lock "$QEMU_DIR/guest/boot.sh" "$kernel" \
	"$OUT/initramfs.cpio.gz" bench 4 "$OUT/bench.log" 3600
# The ratio lines come from bench-report.py below, each with its instruction ratio.
sed 's/\r$//' "$OUT/bench.log" | grep -E '^(RPM-INFO|RPM-BENCH-MODULE|BENCH-GC|# )' || true
# Judged as a 4-level run on the performance kernel (no kmemleak there), without tests.
python3 "$QEMU_DIR/verdict/parse_log.py" --no-tests "4level-perf=$OUT/bench.log" >"$OUT/verdict.txt" || {
	cat "$OUT/verdict.txt" >&2
	die "the bench run failed (console: $OUT/bench.log)"
}
grep -q '^RPM-END bench 0' <(sed 's/\r$//' "$OUT/bench.log") || die "the benchmark did not finish (console: $OUT/bench.log)"
# With the kernel's System.map and the module's symbols, the plugin's per-block counts
# become symbols.md: per workload, where each side's kernel instructions go.
baseline_ko=()
[ -n "${BENCH_BASELINE:-}" ] && baseline_ko=("$OUT/baseline/rust_pagemap.ko")
python3 "$QEMU_DIR/bench/bench-report.py" "$OUT/bench.log" "$OUT" "$accel" "$TOP/build/bench-versions.txt" \
	"$flavour" "$OUT/icount.log" "$kobj/System.map" "$OUT/module/rust_pagemap.ko" "${baseline_ko[@]}"
echo "results: $OUT/results.md $OUT/results.csv $OUT/bench.svg${plugin_args:+ $OUT/symbols.md}"
