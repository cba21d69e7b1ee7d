# An apt configuration of its own, for the fetch scripts (kernel/fetch-kernel.sh,
# guest/fetch-bdwgc.sh, guest/fetch-criu.sh, bench/fetch-qemu-plugin-h.sh): they
# fetch Debian packages (binary or source) from the machine's own mirror without
# installing anything or touching the machine's apt setup: own sources list,
# state and cache directories under the cache. Source it after common.sh; do not
# run it.

# The mirror the machine itself uses for Debian's main archive (not security).
apt_mirror_uri() {
	local f
	{
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN{IGNORECASE=1}
		     /^URIs:/ {u=$2} /^Suites:/ {s=$0}
		     /^$/ { if (u ~ /debian/ && s !~ /security/) {print u; exit} u=""; s="" }
		     END { if (u ~ /debian/ && s !~ /security/) print u }' "$f" | head -n1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" && $0 ~ /debian/ && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' "$f"
	done
	} | { grep -v '^$' || true; } | head -n1
}

# The machine's own Debian suite (bookworm).
apt_machine_suite() {
	(. /etc/os-release && echo "${VERSION_CODENAME:-}")
}

# apt_isolated DIR SUITES TYPES: an apt configuration in DIR for the main
# component of SUITES (one or more, "bookworm bookworm-updates") on the
# machine's mirror, TYPES "deb", "deb-src" or "deb deb-src"; sets APT_OPTS
# (pass it to every apt-get) and runs apt-get update. What is downloaded with
# it is checked against the hashes of the archive's signed indexes.
apt_isolated() {
	local dir=$1 suites=$2 types=$3 uri t suite keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	uri=$(apt_mirror_uri)
	[ -n "$uri" ] || die "no Debian mirror found in the machine's apt sources"
	[ -n "$suites" ] || die "apt_isolated: no suite"
	mkdir -p "$dir"/{etc/preferences.d,etc/empty.d,state/lists/partial,cache/archives/partial}
	: >"$dir/etc/sources.list"
	for suite in $suites; do
		for t in $types; do
			printf '%s [signed-by=%s] %s %s main\n' "$t" "$keyring" "$uri" "$suite" \
				>>"$dir/etc/sources.list"
		done
	done
	APT_OPTS=(-o "Dir::Etc::SourceList=$dir/etc/sources.list"
		-o "Dir::Etc::SourceParts=$dir/etc/empty.d"
		-o "Dir::Etc::Preferences=$dir/etc/preferences"
		-o "Dir::Etc::PreferencesParts=$dir/etc/preferences.d"
		-o "Dir::State=$dir/state"
		-o "Dir::State::status=$dir/state/status"
		-o "Dir::Cache=$dir/cache"
		-o "APT::Architecture=amd64"
		-o "Acquire::Languages=none" -o "APT::Sandbox::User=root")
	: >"$dir/state/status"
	log "apt: $types $uri $suites main (own configuration in $dir)"
	apt-get "${APT_OPTS[@]}" update -qq >&2
}

# dpkg-source, to unpack a source package, installed if missing.
apt_need_dpkg_source() {
	command -v dpkg-source >/dev/null && return 0
	log "installing dpkg-dev (dpkg-source)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >&2 || {
		apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >&2
	}
}
