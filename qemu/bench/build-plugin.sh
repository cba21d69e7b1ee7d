#!/usr/bin/env bash
# Build the instruction-counting TCG plugin (qemu/bench/icount-plugin.c) with the
# host's gcc against the QEMU plugin API header of the installed QEMU
# (fetch-qemu-plugin-h.sh) and GLib's headers (libglib2.0-dev, installed here
# when missing: only `make bench` needs it). Prints the path of the .so.
# Usage: build-plugin.sh OUTDIR
source "$(dirname "$0")/../common.sh"
outdir=$1

for p in libglib2.0-dev pkg-config; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
	log "installing $p (for the TCG plugin)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2 || {
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >&2
	}
done
hdir=$("$QEMU_DIR/bench/fetch-qemu-plugin-h.sh")
mkdir -p "$outdir"
mapfile -t GLIB < <(pkg-config --cflags --libs glib-2.0 | tr ' ' '\n' | grep -v '^$')
gcc -O2 -g -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -I"$hdir" \
	-o "$outdir/rpm-icount.so" "$QEMU_DIR/bench/icount-plugin.c" "${GLIB[@]}"
echo "$outdir/rpm-icount.so"
