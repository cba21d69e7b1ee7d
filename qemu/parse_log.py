#!/usr/bin/env python3
"""Turn guest console logs into a verdict.

Usage: parse_log.py [--no-tests] LABEL=LOG [LABEL=LOG ...]

Each log is the serial console of one guest run (see guest-init.sh). A label
of the form "5level" or "4level" names the paging mode the run is for, and the
run must have measured exactly that. A run fails, with one named failure each,
when:
  - a selftest reports "not ok", XFAIL or XPASS (none of them is a pass), or
    SKIP without an entry in ALLOWED_SKIPS below;
  - a test program printed no plan, reported fewer tests than planned, exited
    non-zero without a failed test to explain it, or started and never ended;
  - the guest is not the machine the suite assumes (RPM-ENV: CPUs, paging
    level, swap, hugetlb pages, THP, userfaultfd WP_ASYNC, clocksource,
    accelerator);
  - the module did not load or did not unload, kmemleak found a leak (or could
    not scan), or the run did not reach its end;
  - the kernel printed a splat: oops, BUG, WARNING, KASAN, lockdep, a hung
    task, a soft lockup, an RCU stall, a kmemleak report, ... (one failure per
    kind and run, listed with its first line).
The last line is "N passed, N failed, N skipped"; the exit status is 0 only if
nothing failed (and, unless --no-tests, at least one test passed).
"""
import re
import sys

# Tests that may SKIP in our guest without failing the verdict, each with the
# reason it cannot run there: {("program", "test"): "reason"}. Printed with
# every verdict that uses it. Empty: everything the suite needs is provided.
ALLOWED_SKIPS = {}

# Kernel splats, most specific first: a line counts for the first kind it
# matches ("BUG: KASAN: ..." is a KASAN report, "BUG: soft lockup" a soft
# lockup).
SPLATS = [
    ("KASAN report", re.compile(r"BUG: KASAN:|\bKASAN: [\w-]+ in ")),
    ("soft lockup", re.compile(r"soft lockup - CPU#|BUG: soft lockup")),
    ("hung task", re.compile(r"blocked for more than \d+ seconds")),
    ("RCU stall", re.compile(r"rcu: INFO: .*detected stalls?|self-detected stall on CPU|"
                             r"rcu_(?:sched|preempt) detected stall")),
    # A leak report on the console (kmemleak.verbose); the count after the
    # suite (RPM-KMEMLEAK) is judged on its own, and the boot-time scan's
    # "N new suspected memory leaks" line is not ours.
    ("kmemleak report", re.compile(r"unreferenced object 0x")),
    # Lockdep reports; not the boot banner ("RCU lockdep checking is enabled").
    ("lockdep report", re.compile(r"possible circular locking|possible recursive locking|"
                                  r"inconsistent lock state|suspicious RCU usage|INFO: possible|"
                                  r"bad unlock balance|lock held when returning to user space|"
                                  r"lockdep: .*(?:BUG|WARN)")),
    ("atomic sleep", re.compile(r"sleeping function called from invalid context")),
    ("general protection fault", re.compile(r"general protection fault")),
    ("BUG", re.compile(r"\bBUG:|kernel BUG at")),
    ("WARNING", re.compile(r"\bWARNING:|------------\[ cut here \]------------")),
    ("oops", re.compile(r"\bOops\b|\boops:")),
    ("kernel panic", re.compile(r"Kernel panic")),
]
# A call trace alone is a failure; next to a named splat it is part of it.
CALL_TRACE = re.compile(r"Call Trace:")

TAP = re.compile(r"^(not ok|ok) (\d+)\s*-?\s*(.*?)\s*$")
PLAN = re.compile(r"^1\.\.(\d+)\s*$")
DIRECTIVE = re.compile(r"\s#\s*(SKIP|XFAIL|XPASS|TODO)\b\s*(.*)$", re.IGNORECASE)
# Strip a printk timestamp that may precede user output on the console.
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
RUN_LABEL = re.compile(r"^(\d)level$")
# Clocksources that are not a real timer (the jiffies ones tick in 4 ms steps).
BAD_CLOCKSOURCES = {"jiffies", "refined-jiffies", "?"}


class Result:
    def __init__(self):
        self.passed, self.failed, self.skipped = [], [], []
        self.details = []  # extra lines printed after the failures (leak reports)
        self.allowed = []  # allow-list entries that were used

    def merge(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.details += other.details
        self.allowed += other.allowed


def check_env(label, line, r):
    """Check an RPM-ENV line against what a run named LABEL needs."""
    env = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)

    def num(key):
        try:
            return int(env.get(key, ""))
        except ValueError:
            return None

    missing = []
    if (num("cpus") or 0) < 2:
        missing.append(f"2 online CPUs (cpus={env.get('cpus', '?')})")
    m = RUN_LABEL.match(label)
    if m and num("paging") != int(m.group(1)):
        missing.append(f"{m.group(1)}-level paging (paging={env.get('paging', '?')})")
    if num("swap") != 1:
        missing.append("an active swap device")
    if (num("hp2m") or 0) < 1:
        missing.append("2 MiB hugetlb pages")
    if (num("hp1g") or 0) < 1:
        missing.append("a 1 GiB hugetlb page")
    if num("thp") != 1:
        missing.append("transparent huge pages")
    if num("uffd_wp_async") != 1:
        missing.append("userfaultfd WP_ASYNC")
    if env.get("clocksource", "?") in BAD_CLOCKSOURCES:
        missing.append(f"a real clocksource (clocksource={env.get('clocksource', '?')})")
    if env.get("accel") not in ("tcg", "kvm"):
        missing.append(f"a known accelerator (accel={env.get('accel', '?')})")
    for what in missing:
        r.failed.append(f"{label}: environment: needs {what}, did not have it")


def parse(label, text):
    """Parse one console log; returns a Result with one entry per test or problem."""
    r = Result()
    lines = [STAMP.sub("", raw.strip()) for raw in text.replace("\r", "").split("\n")]

    splats = {}
    trace = None
    for no, line in enumerate(lines, 1):
        if line.startswith("RPM-KMEMLEAK"):
            continue  # our own leak report: judged below, once
        for what, pat in SPLATS:
            if pat.search(line):
                splats.setdefault(what, (no, line))
                break
        else:
            if trace is None and CALL_TRACE.search(line):
                trace = (no, line)
    if trace and not splats:
        splats["call trace"] = trace
    for what, (no, line) in splats.items():
        r.failed.append(f"{label}: kernel {what} (first at console line {no}: {line[:160]})")

    binary = plan = None
    seen, failed_in_binary = 0, 0
    env_seen = loaded = unloaded = done = False
    leaks = None
    report = []
    for line in lines:
        if line.startswith("RPM-ENV "):
            env_seen = True
            check_env(label, line, r)
            continue
        if line.startswith("RPM-MODULE "):
            state = line[len("RPM-MODULE "):]
            if state == "loaded":
                loaded = True
            elif state == "unloaded":
                unloaded = True
            elif state == "failed":
                r.failed.append(f"{label}: loading rust_pagemap failed")
            else:
                r.failed.append(f"{label}: module: {state}")
            continue
        if line.startswith("RPM-KMEMLEAK-REPORT "):
            report.append(line[len("RPM-KMEMLEAK-REPORT "):])
            continue
        if line.startswith("RPM-KMEMLEAK "):
            m = re.match(r"RPM-KMEMLEAK leaks=(\d+)$", line)
            leaks = int(m.group(1)) if m else line[len("RPM-KMEMLEAK "):]
            continue
        if line == "RPM-DONE":
            done = True
            continue
        if line.startswith("RPM-BEGIN "):
            binary, plan, seen, failed_in_binary = line.split()[1], None, 0, 0
            continue
        if line.startswith("RPM-END ") and binary:
            parts = line.split()
            code = int(parts[2]) if len(parts) > 2 and parts[2].lstrip("-").isdigit() else -1
            if plan is None:
                r.failed.append(f"{label}: {binary}: printed no TAP plan")
            elif seen < plan:
                r.failed.append(f"{label}: {binary}: {plan - seen} of {plan} planned tests never reported")
            if code != 0 and not failed_in_binary:
                r.failed.append(f"{label}: {binary}: exited with status {code}")
            binary = None
            continue
        if binary is None:
            continue
        m = PLAN.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = TAP.match(line)
        if m:
            seen += 1
            failed_in_binary += judge(r, label, binary, m)
    if binary is not None:
        r.failed.append(f"{label}: {binary}: started and never ended (crash or timeout)")
    if not env_seen:
        r.failed.append(f"{label}: no RPM-ENV line: the guest's environment was not checked")
    if not loaded:
        r.failed.append(f"{label}: the module was not loaded")
    elif not unloaded:
        r.failed.append(f"{label}: the module was not unloaded (RPM-MODULE unloaded missing)")
    if leaks is None:
        r.failed.append(f"{label}: no kmemleak scan after the suite")
    elif leaks != 0:
        what = f"{leaks} leaks" if isinstance(leaks, int) else leaks
        r.failed.append(f"{label}: kmemleak: {what}")
        r.details += [f"{label}: kmemleak: {x}" for x in report]
    if not done:
        r.failed.append(f"{label}: the guest did not reach the end of its run")
    return r


def judge(r, label, binary, m):
    """File one TAP result line; returns 1 if it is a failure."""
    status, rest = m.group(1), m.group(3)
    d = DIRECTIVE.search(rest)
    name = (rest[:d.start()] if d else rest).strip() or m.group(2)
    full = f"{label}: {binary}: {name}"
    if status == "not ok":
        r.failed.append(full)
        return 1
    if d is None:
        r.passed.append(full)
        return 0
    kind, why = d.group(1).upper(), d.group(2).strip()
    if kind == "SKIP":
        allowed = ALLOWED_SKIPS.get((binary, name))
        if allowed:
            r.skipped.append(full)
            r.allowed.append(f"{binary}: {name}: {allowed}")
            return 0
        r.failed.append(f"{full}: SKIP ({why or 'no reason given'}) is not on the allow-list")
        return 1
    r.failed.append(f"{full}: {kind} is not a pass ({why})")
    return 1


def main(argv):
    total = Result()
    # A demo run has no tests; a check run without a single pass proves nothing.
    need_tests = "--no-tests" not in argv
    for arg in (a for a in argv if a != "--no-tests"):
        label, _, path = arg.partition("=")
        try:
            with open(path, errors="replace") as f:
                text = f.read()
        except OSError as e:
            total.failed.append(f"{label}: no console log: {e}")
            continue
        total.merge(parse(label, text))
    if need_tests and not total.passed:
        total.failed.append("no test passed at all")
    for entry in sorted(set(total.allowed)):
        print(f"ALLOWED SKIP {entry}")
    for name in total.skipped:
        print(f"SKIP {name}")
    for name in total.failed:
        print(f"FAIL {name}")
    for line in total.details:
        print(line)
    print(f"{len(total.passed)} passed, {len(total.failed)} failed, {len(total.skipped)} skipped")
    return 1 if total.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
