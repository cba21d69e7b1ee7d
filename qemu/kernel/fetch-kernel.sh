#!/usr/bin/env bash
# Fetch Debian's linux-source package for the test kernel and unpack it into the
# cache. The package comes from a newer suite than the machine runs, so it is
# fetched through an apt configuration of its own (own sources list, state and
# cache directories): nothing from that suite is ever installed on the system.
# Prints the path of the unpacked source tree.
source "$(dirname "$0")/../common.sh"

APTDIR=$CACHE/apt
SRCROOT=$CACHE/src

# The mirror: whatever the machine's own apt sources use for the main archive.
mirror_uri() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN{IGNORECASE=1}
		     /^URIs:/ {u=$2} /^Suites:/ {s=$0}
		     /^$/ { if (u != "" && s !~ /security/) {print u; exit} u=""; s="" }
		     END { if (u != "" && s !~ /security/) print u }' "$f" | head -n1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' "$f"
	done
}

existing=$(ls -d "$SRCROOT"/linux-source-*/ 2>/dev/null | head -n1 || true)
if [ -n "$existing" ] && [ -f "$existing/Makefile" ]; then
	echo "${existing%/}"
	exit 0
fi

uri=$(mirror_uri | grep -v '^$' | head -n1)
[ -n "$uri" ] || die "no Debian mirror found in the machine's apt sources"
log "fetching $KERNEL_PKG from $KERNEL_SUITE via the machine's mirror"

mkdir -p "$APTDIR"/{etc/preferences.d,etc/apt.conf.d,state/lists/partial,cache/archives/partial,debs}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$uri" "$KERNEL_SUITE" >"$APTDIR/etc/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$APTDIR/etc/sources.list"
	-o "Dir::Etc::SourceParts=$APTDIR/etc/empty.d"
	-o "Dir::Etc::Preferences=$APTDIR/etc/preferences"
	-o "Dir::Etc::PreferencesParts=$APTDIR/etc/preferences.d"
	-o "Dir::State=$APTDIR/state"
	-o "Dir::State::status=$APTDIR/state/status"
	-o "Dir::Cache=$APTDIR/cache"
	-o "APT::Architecture=amd64"
	-o "Acquire::Languages=none" -o "APT::Sandbox::User=root")
mkdir -p "$APTDIR/etc/empty.d"
: >"$APTDIR/state/status"
apt-get "${APT_OPTS[@]}" update -qq >&2
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
