# RPM_SLOW: run the guests on a slower machine than this one. Sourced by boot.sh;
# do not run it.
#
# RPM_SLOW=1 (or a factor F >= 2; 1 means 2) puts every QEMU started with it into
# one CPU cgroup, rpm-slow, whose quota is the host's CPUs divided by F, shared
# by all the guests in it: the two lanes of `make check`, one QEMU each, which
# would get about one host CPU each on a 2-CPU host, share one between them, so
# each guest runs about F times slower than without it (one lane alone: F times
# fewer CPUs than it would have). The guests' CPUs stay two, and can run in
# parallel, as on a slower host; only the time they get is cut. Whether the
# suite's verdict depends on the speed of the host is what it tests.
#
# Where the quota goes, the first that works: cgroup v2 with the cpu controller
# (cpu.max; cgroup2 mounted at /run/rpm-cgroup2 if the machine has none mounted),
# cgroup v1's cpu hierarchy (cpu.cfs_quota_us; mounted likewise if absent, at
# /run/rpm-cgroup-cpu), else taskset onto the host's first CPUs / F CPUs (the
# guest's vCPUs then never run at the same instant). Root only; a run that asks
# for RPM_SLOW and gets none of these stops.

SLOW_PERIOD=20000	# µs: short, so that a throttled guest stalls for at most ~20 ms at a time

# SLOW_F: the factor RPM_SLOW asks for (0: not slowed).
case "${RPM_SLOW:-0}" in
'' | 0) SLOW_F=0 ;;
*[!0-9]*) die "RPM_SLOW=$RPM_SLOW: give 1 (twice slower) or a whole factor >= 2" ;;
1) SLOW_F=2 ;;
*) SLOW_F=$RPM_SLOW ;;
esac

# slow_cgroup_v2 F: the rpm-slow cgroup of a cgroup v2 hierarchy with the cpu
# controller, set up; prints its directory.
slow_cgroup_v2() {
	local f=$1 root cpus
	root=$(findmnt -n -t cgroup2 -o TARGET | head -n 1) || true
	if [ -z "$root" ] && [ -z "$(findmnt -n -t cgroup -O cpu -o TARGET || true)" ]; then
		mkdir -p /run/rpm-cgroup2 && mount -t cgroup2 none /run/rpm-cgroup2 2>/dev/null &&
			root=/run/rpm-cgroup2
	fi
	[ -n "$root" ] && grep -qw cpu "$root/cgroup.controllers" 2>/dev/null || return 1
	grep -qw cpu "$root/cgroup.subtree_control" ||
		echo +cpu >"$root/cgroup.subtree_control" 2>/dev/null || return 1
	mkdir -p "$root/rpm-slow" || return 1
	cpus=$(getconf _NPROCESSORS_ONLN)
	echo "$((cpus * SLOW_PERIOD / f)) $SLOW_PERIOD" >"$root/rpm-slow/cpu.max" || return 1
	echo "$root/rpm-slow"
}

# slow_cgroup_v1 F: the same in cgroup v1's cpu hierarchy.
slow_cgroup_v1() {
	local f=$1 root cpus
	root=$(findmnt -n -t cgroup -O cpu -o TARGET | head -n 1) || true
	if [ -z "$root" ]; then
		mkdir -p /run/rpm-cgroup-cpu && mount -t cgroup -o cpu none /run/rpm-cgroup-cpu 2>/dev/null &&
			root=/run/rpm-cgroup-cpu
	fi
	[ -n "$root" ] && [ -e "$root/cpu.cfs_quota_us" ] || return 1
	mkdir -p "$root/rpm-slow" || return 1
	cpus=$(getconf _NPROCESSORS_ONLN)
	echo "$SLOW_PERIOD" >"$root/rpm-slow/cpu.cfs_period_us" &&
		echo "$((cpus * SLOW_PERIOD / f))" >"$root/rpm-slow/cpu.cfs_quota_us" || return 1
	echo "$root/rpm-slow"
}

# slow_join WHAT: with RPM_SLOW, put this shell (and so the QEMU it starts) into
# the quota, or set SLOW_PREFIX to the taskset command to start QEMU with; says
# on stderr what it did, for WHAT (the boot's log).
SLOW_PREFIX=() SLOW_DIR=
slow_join() {
	local f=$SLOW_F dir cpus n how
	[ "$f" = 0 ] && return 0
	cpus=$(getconf _NPROCESSORS_ONLN)
	[ "$(id -u)" = 0 ] || die "RPM_SLOW needs root (a CPU cgroup or taskset for QEMU)"
	for how in v2 v1; do
		if dir=$(slow_cgroup_$how "$f") && echo $$ >"$dir/cgroup.procs"; then
			SLOW_DIR=$dir
			log "RPM_SLOW=$RPM_SLOW: $1: QEMU in cgroup $how $dir, CPU quota" \
				"$((cpus * SLOW_PERIOD / f)) us per $SLOW_PERIOD us for this host's $cpus CPUs," \
				"shared by every guest in it (${f}x slower)"
			return 0
		fi
	done
	n=$((cpus / f))
	[ "$n" -ge 1 ] || n=1
	command -v taskset >/dev/null || die "RPM_SLOW: no CPU cgroup and no taskset here"
	SLOW_PREFIX=(taskset -c "0-$((n - 1))")
	log "RPM_SLOW=$RPM_SLOW: $1: no CPU cgroup here; QEMU on host CPUs 0-$((n - 1)) of $cpus" \
		"(taskset), shared by every guest so started"
}

# slow_report WHAT: after the guest, how long the quota has held the guests back
# so far (the cgroup's own count, cpu.stat), as proof that it did.
slow_report() {
	local secs
	[ -n "$SLOW_DIR" ] || return 0
	secs=$(awk '$1 == "throttled_usec" { t = $2 / 1e6 } $1 == "throttled_time" { t = $2 / 1e9 }
		$1 == "nr_periods" { p = $2 } $1 == "nr_throttled" { n = $2 }
		END { printf "%.1f s, in %d of %d periods", t, n, p }' "$SLOW_DIR/cpu.stat" 2>/dev/null)
	log "RPM_SLOW=$RPM_SLOW: $1: done; $SLOW_DIR has held its guests back for ${secs:-?}" \
		"since it was made (cpu.stat)"
}
