#!/usr/bin/env bash
# The two things the README promises, from nothing:
#   run.sh demo   set up, build, boot, load the module and show it at work
#   run.sh check  the whole suite, under 4-level and 5-level paging; exit status = verdict
source "$(dirname "$0")/common.sh"
mode=${1:-check}
BUILD=$TOP/build

"$QEMU_DIR/setup-toolchain.sh"
kobj=$("$QEMU_DIR/build-kernel.sh")
"$QEMU_DIR/versions.sh" "$kobj"

log "building rust_pagemap.ko"
"$QEMU_DIR/build-module.sh" "$kobj"
log "building selftests"
rm -rf "$BUILD/tests"
"$QEMU_DIR/build-tests.sh" "$kobj" "$BUILD/tests"
# --- others (build-others.sh): other people's programs and librpm_redirect.so ---
log "building the redirect library and other people's programs"
"$QEMU_DIR/build-others.sh" "$kobj" "$BUILD/others"
# --- end others ---
"$QEMU_DIR/mkinitramfs.sh" "$BUILD/initramfs.cpio.gz" "$TOP/rust_pagemap.ko" "$BUILD/tests" "$BUILD/others"
kernel=$kobj/arch/x86/boot/bzImage

case "$mode" in
demo)
	"$QEMU_DIR/boot.sh" "$kernel" "$BUILD/initramfs.cpio.gz" demo 5 "$BUILD/demo.log" 300
	grep -v '^\[' "$BUILD/demo.log" | grep -v '^RPM-' || true
	python3 "$QEMU_DIR/parse_log.py" --no-tests "demo=$BUILD/demo.log" >/dev/null || {
		grep -E 'RPM-|WARNING|BUG|Oops' "$BUILD/demo.log" >&2
		die "the demo run failed (console: $BUILD/demo.log)"
	}
	;;
check)
	log "parser self-test"
	if ! (cd "$QEMU_DIR" && python3 -m unittest -q -b test_parse_log) >"$BUILD/parser-test.log" 2>&1; then
		cat "$BUILD/parser-test.log" >&2
		echo "0 passed, 1 failed"
		exit 1
	fi
	logs=()
	for paging in 5 4; do
		log "booting the suite with $paging-level paging"
		"$QEMU_DIR/boot.sh" "$kernel" "$BUILD/initramfs.cpio.gz" check "$paging" "$BUILD/check-$paging.log"
		logs+=("${paging}level=$BUILD/check-$paging.log")
	done
	for l in "${logs[@]}"; do
		grep -E '^(not ok|ok) |^# (Totals|FAIL|  RUN)|^RPM-' "${l#*=}" | grep -v '^#  RUN' | sed "s/^/[${l%%=*}] /"
	done
	python3 "$QEMU_DIR/parse_log.py" "${logs[@]}"
	;;
*) die "unknown mode $mode (demo or check)" ;;
esac
