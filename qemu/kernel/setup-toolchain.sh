#!/usr/bin/env bash
# Install everything the kernel, the module and the guest need, from Debian's
# bookworm packages and crates.io only. Idempotent: a second run checks and exits.
# (rsync: the kselftest lib.mk installs with it; binutils: mkinitramfs.sh
# counts the module's KUnit suites with objdump.)
source "$(dirname "$0")/../common.sh"

PKGS=(rustc-web rust-web-src rust-web-clippy rustfmt-web clang-19 lld-19 llvm-19 libclang-19-dev
	qemu-system-x86 busybox-static flex bison bc libelf-dev libssl-dev
	cpio kmod make gcc binutils libc6-dev python3 zstd xz-utils dwarves rsync)

# bindgen-cli compiles while apt installs the packages: it builds with the
# machine's own cargo, rustc and gcc (not $RUSTC, Debian's rustc-web, which apt
# may be installing meanwhile), and loads libclang only when it runs.
bindgen_pid=
if ! "$CARGO_ROOT/bin/bindgen" --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	log "installing bindgen-cli $BINDGEN_VERSION into $CARGO_ROOT (beside the packages)"
	env -u RUSTC cargo install --locked --root "$CARGO_ROOT" "bindgen-cli@$BINDGEN_VERSION" >&2 &
	bindgen_pid=$!
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# A first install on a fresh image has been seen to fail in a postinst and
	# succeed on the second try; retry once after letting dpkg finish.
	if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$CACHE/apt-install.log" 2>&1; then
		log "apt-get install failed once (see $CACHE/apt-install.log); retrying"
		dpkg --configure -a >&2 || true
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	fi
fi

if [ -n "$bindgen_pid" ] && ! wait "$bindgen_pid"; then
	die "bindgen-cli $BINDGEN_VERSION does not build (cargo install, above)"
fi
