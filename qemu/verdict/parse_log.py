#!/usr/bin/env python3
"""Turn guest console logs into a verdict.

Usage: parse_log.py [--no-tests] LABEL=LOG [LABEL=LOG ...]

Each log is the serial console of one guest run (see guest-init.sh): the
guest's RPM- lines, the kernel's messages, and the KTAP of the installed
kselftest runner (run_kselftest.sh; see class Ktap). A label
of the form "5level" or "4level" names the paging mode the run is for, and the
run must have measured exactly that. A run fails, with one named failure each,
when:
  - a selftest reports "not ok", XFAIL or XPASS (none of them is a pass), or
    SKIP without an entry in ALLOWED_SKIPS below;
  - a test program printed no plan, reported fewer tests than planned, ended
    "not ok" (exit status, timeout) or SKIP/XFAIL without a test of its own
    to explain it, or started and never ended; the runner reported fewer
    programs than it planned;
  - a KUnit case of the module reports "not ok" or SKIP (not allow-listed),
    or the module's KUnit results are incomplete: every suite the module
    carries must report, with every case its plan names (see class Kunit;
    a module built against a kernel without CONFIG_KUNIT carries none);
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
import collections
import re
import sys

# Tests that may SKIP in our guest without failing the verdict, each with the
# reason it cannot run there: {("program", "test"): "reason"}, a KUnit case as
# ("kunit.SUITE", "CASE"). Printed with every verdict that uses it. Empty:
# everything the suite needs is provided.
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
# Comment lines kept per program, printed under a failing test (its assertion, its TH_LOGs).
NOTES_KEPT = 12
# The guest's uptime stamped on a runner line (qemu/guest/guest-init.sh).
TIME = re.compile(r"^RPM-TIME (\d+(?:\.\d+)?) (.*)$")
# Strip a printk timestamp that may precede user output on the console.
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")
# A kernel message that the console wrote into the middle of a user line, before
# its newline ("TAP version 13[   22.648863] kselftest: Running tests in ..."):
# the line is split there, each part read as the line it was.
EMBEDDED = re.compile(r"(?<=\S)\[\s*\d+\.\d{6}\] ")
# A run is named for its paging level; "-perf": on the performance kernel,
# which has no kmemleak (no leak scan is asked of it; the debug runs judge leaks).
RUN_LABEL = re.compile(r"^(\d)level(-perf)?$")
# Clocksources that are not a real timer (the jiffies ones tick in 4 ms steps).
BAD_CLOCKSOURCES = {"jiffies", "refined-jiffies", "?"}


class Result:
    def __init__(self):
        self.passed, self.failed, self.skipped = [], [], []
        self.details = []  # extra lines printed after the failures (leak reports)
        self.allowed = []  # allow-list entries that were used
        self.times = []  # "LABEL: seconds: prog N, ..." from the guest's RPM-TIME stamps

    def merge(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.details += other.details
        self.allowed += other.allowed
        self.times += other.times


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


def parse(label, text, need_tests=True):
    """Parse one console log; returns a Result with one entry per test or problem.
    Without `need_tests` (a bench or demo run) the kselftest runner is not expected."""
    r = Result()
    lines = []
    for raw in text.replace("\r", "").split("\n"):
        line = STAMP.sub("", raw.strip())
        m = EMBEDDED.search(line)
        if m:
            lines += [line[: m.start()].rstrip(), STAMP.sub("", line[m.start():])]
        else:
            lines.append(line)

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

    ktap = Ktap(label, r)
    kunit = Kunit(label, r)
    block = None  # a program qemu/guest/guest-others.sh runs, between RPM-BEGIN and RPM-END
    env_seen = loaded = unloaded = done = False
    leaks = None
    report = []
    started, took = {}, []  # RPM-TIME: a program's start, then its seconds
    for line in lines:
        m = TIME.match(line)
        if m:
            at, what = float(m.group(1)), m.group(2)
            begin, end = Ktap.START.match(what), Ktap.END.match(what)
            if begin:
                started[begin.group(2)] = at
            elif end and end.group(3) in started:
                took.append(f"{end.group(3)} {at - started.pop(end.group(3)):.0f}")
            continue
        if line.startswith("RPM-ENV "):
            env_seen = True
            check_env(label, line, r)
            continue
        if line.startswith("RPM-MODULE "):
            state = line[len("RPM-MODULE "):]
            if state == "loaded" or state.startswith("loaded ("):
                loaded = True
            elif state == "unloaded":
                unloaded = True
            elif state == "failed" or state.startswith("failed ("):
                r.failed.append(f"{label}: loading rust_pagemap failed {state[len('failed '):]}".rstrip())
            else:
                r.failed.append(f"{label}: module: {state}")
            continue
        if line.startswith("RPM-KUNIT-EXPECT "):
            kunit.expectation(line)
            continue
        if line.startswith("RPM-KUNIT "):
            kunit.feed(line[len("RPM-KUNIT "):])
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
        if line.startswith("RPM-RUNNER "):
            ktap.runner_exit(line)
            continue
        if line.startswith("RPM-BEGIN "):
            if block is not None:
                block.finish()
            block = Block(label, r, line.split()[1])
            continue
        if line.startswith("RPM-END ") and block is not None:
            block.end(line)
            block = None
            continue
        if block is not None:
            block.feed(line)
            continue
        if line.startswith("RPM-") or line.startswith("["):
            continue  # our other lines, kernel messages
        ktap.feed(line)
    if took:
        r.times.append(f"{label}: seconds: " + ", ".join(took))
    if need_tests:
        ktap.finish()
    if block is not None:
        block.finish()
    if not env_seen:
        r.failed.append(f"{label}: no RPM-ENV line: the guest's environment was not checked")
    if not loaded:
        r.failed.append(f"{label}: the module was not loaded")
    else:
        kunit.finish()
    if loaded and not unloaded:
        r.failed.append(f"{label}: the module was not unloaded (RPM-MODULE unloaded missing)")
    if label.endswith("-perf"):
        pass
    elif leaks is None:
        r.failed.append(f"{label}: no kmemleak scan after the suite")
    elif leaks != 0:
        what = f"{leaks} leaks" if isinstance(leaks, int) else leaks
        r.failed.append(f"{label}: kmemleak: {what}")
        r.details += [f"{label}: kmemleak: {x}" for x in report]
    if not done:
        r.failed.append(f"{label}: the guest did not reach the end of its run")
    return r


class Block:
    """One program run outside the kselftest runner (qemu/guest/guest-others.sh:
    other people's programs, directly and through librpm_redirect.so), its
    TAP between `RPM-BEGIN NAME` and `RPM-END NAME STATUS`."""

    def __init__(self, label, r, name):
        self.label, self.r, self.name = label, r, name
        self.plan, self.seen, self.failed = None, 0, 0

    def feed(self, line):
        m = PLAN.match(line)
        if m and self.plan is None:
            self.plan = int(m.group(1))
            return
        m = TAP.match(line)
        if m:
            self.seen += 1
            self.failed += judge(self.r, self.label, self.name, m)

    def end(self, line):
        parts = line.split()
        code = int(parts[2]) if len(parts) > 2 and parts[2].lstrip("-").isdigit() else -1
        who = f"{self.label}: {self.name}"
        if self.plan is None:
            self.r.failed.append(f"{who}: printed no TAP plan")
        elif self.seen < self.plan:
            self.r.failed.append(f"{who}: {self.plan - self.seen} of {self.plan} planned tests never reported")
        if code != 0 and not self.failed:
            self.r.failed.append(f"{who}: exited with status {code}")

    def finish(self):
        self.r.failed.append(f"{self.label}: {self.name}: started and never ended (crash or timeout)")


class Ktap:
    """The output of run_kselftest.sh: KTAP with one result line per program,
    each program's own TAP nested under a "# " prefix:

        TAP version 13
        1..11
        # selftests: rust_pagemap: pagemap_attach
        # TAP version 13
        # 1..12
        # ok 1 global.attach_self
        ...
        ok 1 selftests: rust_pagemap: pagemap_attach
        not ok 2 selftests: rust_pagemap: softdirty_race # exit=1

    Results are counted per test (the nested lines); a program's own line
    adds a failure only when none of its tests explains it.
    """

    START = re.compile(r"^# selftests: (\S+): (\S+)\s*$")
    END = re.compile(r"^(not ok|ok) \d+ selftests: (\S+): (\S+)\s*(?:#\s*(.*))?$")

    def __init__(self, label, r):
        self.label, self.r = label, r
        self.header = False
        self.plan = None  # programs planned by the runner
        self.ended = 0
        self.prog = None
        self.exit = None

    def _start(self, name):
        self.prog, self.prog_plan, self.seen, self.prog_failed = name, None, 0, 0
        self.notes = collections.deque(maxlen=NOTES_KEPT)

    def feed(self, line):
        if line == "TAP version 13" and not self.header:
            self.header = True
            return
        m = PLAN.match(line)
        if m and self.header and self.plan is None and self.prog is None:
            self.plan = int(m.group(1))
            return
        m = self.START.match(line)
        if m:
            if self.prog is not None:
                self.r.failed.append(f"{self.label}: {self.prog}: started and never ended")
            self._start(m.group(2))
            return
        m = self.END.match(line)
        if m:
            self._end(m)
            return
        if self.prog is None or not line.startswith("# "):
            return
        inner = line[2:]
        m = PLAN.match(inner)
        if m and self.prog_plan is None:
            self.prog_plan = int(m.group(1))
            return
        m = TAP.match(inner)
        if m:
            self.seen += 1
            failed = judge(self.r, self.label, self.prog, m)
            self.prog_failed += failed
            if failed:
                # What the test said before it failed: the assertion and its TH_LOGs.
                self.r.details += [f"{self.label}: {self.prog}: {n}" for n in self.notes]
            self.notes.clear()
        elif inner.startswith("# "):
            self.notes.append(inner[2:])

    def _end(self, m):
        status, name, directive = m.group(1), m.group(3), (m.group(4) or "").strip()
        who = f"{self.label}: {name}"
        if self.prog != name:
            self.r.failed.append(f"{who}: a result without a start")
            self._start(name)
        self.ended += 1
        if self.prog_plan is None:
            self.r.failed.append(f"{who}: printed no TAP plan")
        elif self.seen < self.prog_plan:
            self.r.failed.append(f"{who}: {self.prog_plan - self.seen} of {self.prog_plan} planned "
                                 f"tests never reported")
        if not self.prog_failed and (status == "not ok" or directive):
            # exit=N, TIMEOUT, SKIP (exit 4), XFAIL: none of them is a pass
            self.r.failed.append(f"{who}: {status}{' # ' + directive if directive else ''}")
        self.prog = None

    def runner_exit(self, line):
        self.exit = line.split("=", 1)[-1]

    def finish(self):
        if self.prog is not None:
            self.r.failed.append(f"{self.label}: {self.prog}: started and never ended (crash or timeout)")
        if self.plan is None:
            self.r.failed.append(f"{self.label}: the kselftest runner printed no plan (did it run?)")
        elif self.ended < self.plan:
            self.r.failed.append(f"{self.label}: {self.plan - self.ended} of {self.plan} test programs "
                                 f"never reported")
        if self.exit is not None and self.exit != "0" and not self.r.failed:
            self.r.failed.append(f"{self.label}: run_kselftest.sh exited {self.exit}")


class Kunit:
    """The module's own KUnit tests (its `#[kunit_tests(SUITE)]` modules).
    KUnit runs them when the module loads and prints KTAP to the kernel log;
    the guest copies that KTAP from the log (qemu/guest/guest-init.sh), one
    `RPM-KUNIT ` line each with its indentation, after one line

        RPM-KUNIT-EXPECT suites=N kunit=yes|no

    N: how many suites the module carries (mkinitramfs.sh counts them in its
    .kunit_test_suites section, which only a module built against a kernel
    with CONFIG_KUNIT=y has); kunit: whether the running kernel has KUnit.
    KTAP of one suite, nested under the module's plan of suites:

        KTAP version 1
        1..1
            KTAP version 1
            # Subtest: rpm_level
            # speed: normal
            1..2
            ok 1 shift_of_each_level
            # span_of_each_level: ASSERTION FAILED at walk/level.rs:80
            not ok 2 span_of_each_level
        # rpm_level: pass:1 fail:1 skip:0 total:2
        not ok 1 rpm_level

    Each case is a test, `kunit.SUITE.CASE`, judged as a selftest's (a SKIP
    fails unless allow-listed as ("kunit.SUITE", "CASE")). The rule: the
    kernel must have KUnit if the module carries suites, and KUnit must
    plan and report exactly the module's N suites, each with every case it
    planned; a suite's own "not ok" without a failed case to explain it
    fails. N = 0 (the performance kernel's module) asks for no KTAP.
    """

    SUBTEST = re.compile(r"^# Subtest: (\S+)\s*$")
    INDENT = 4  # KUnit's KUNIT_SUBTEST_INDENT: a suite's lines, one level in
    # A suite's or a case's attributes ("# speed: normal", "# CASE.speed: normal"),
    # not what a failing case said.
    ATTRIBUTE = re.compile(r"^# (?:\S+\.)?(?:speed|module|is_init): ")

    def __init__(self, label, r):
        self.label, self.r = label, r
        self.said = False  # an RPM-KUNIT-EXPECT line was seen
        self.expect, self.kernel = None, None
        self.header = False
        self.plan = None  # suites KUnit planned for the module
        self.ended = 0  # suites that reported a result
        self.suite = None

    def expectation(self, line):
        self.said = True
        kv = dict(x.split("=", 1) for x in line.split()[1:] if "=" in x)
        self.kernel = kv.get("kunit")
        try:
            self.expect = int(kv.get("suites", ""))
        except ValueError:
            self.expect = None

    def _start(self, name):
        if self.suite is not None:
            self.r.failed.append(f"{self.label}: kunit.{self.suite}: started and never ended")
        self.suite, self.suite_plan, self.seen, self.suite_failed = name, None, 0, 0
        self.notes = collections.deque(maxlen=NOTES_KEPT)

    def feed(self, text):
        line = text.lstrip(" ")
        depth = (len(text) - len(line)) // self.INDENT
        if depth == 0:
            if line.startswith("KTAP version ") and not self.header:
                self.header = True
                return
            m = PLAN.match(line)
            if m and self.header and self.plan is None:
                self.plan = int(m.group(1))
                return
            m = TAP.match(line)
            if m and self.header:
                self._end(m)
            return  # "# SUITE: pass:.. fail:..", "# Totals: ...", other kernel messages
        if depth > 1:
            # A parameterized case's own results: its line one level up counts.
            if self.suite is not None:
                self.notes.append(line)
            return
        m = self.SUBTEST.match(line)
        if m:
            self._start(m.group(1))
            return
        if self.suite is None:
            return
        m = PLAN.match(line)
        if m and self.suite_plan is None:
            self.suite_plan = int(m.group(1))
            return
        m = TAP.match(line)
        if m:
            self.seen += 1
            failed = judge(self.r, self.label, f"kunit.{self.suite}", m, sep=".")
            self.suite_failed += failed
            if failed:
                # What the case said before it failed: its assertion.
                self.r.details += [f"{self.label}: kunit.{self.suite}: {n}" for n in self.notes]
            self.notes.clear()
        elif not line.startswith("KTAP version ") and not self.ATTRIBUTE.match(line):
            self.notes.append(line)

    def _end(self, m):
        status, rest = m.group(1), m.group(3)
        d = DIRECTIVE.search(rest)
        name = (rest[:d.start()] if d else rest).strip()
        directive = f"{d.group(1)} {d.group(2)}".strip() if d else ""
        who = f"{self.label}: kunit.{name}"
        if self.suite != name:
            self.r.failed.append(f"{who}: a result without a start")
            self._start(name)
        self.ended += 1
        if self.suite_plan is None:
            self.r.failed.append(f"{who}: printed no plan")
        elif self.seen < self.suite_plan:
            self.r.failed.append(f"{who}: {self.suite_plan - self.seen} of {self.suite_plan} planned "
                                 f"cases never reported")
        if not self.suite_failed and (status == "not ok" or directive):
            # a suite's init failed, or every case skipped: none of them is a pass
            self.r.failed.append(f"{who}: {status}{' # ' + directive if directive else ''}")
        self.suite = None

    def finish(self):
        """Judge what the module's KUnit reported against what it carries
        (called for a run in which the module loaded)."""
        who = f"{self.label}: kunit"
        if self.suite is not None:
            self.r.failed.append(f"{who}.{self.suite}: started and never ended (crash or timeout)")
        if not self.said:
            self.r.failed.append(f"{who}: no RPM-KUNIT-EXPECT line: the module's KUnit suites were "
                                 f"not checked")
            return
        if self.expect is None:
            self.r.failed.append(f"{who}: the guest did not know how many suites the module carries")
            return
        if self.expect == 0:
            if self.plan is not None:
                self.r.failed.append(f"{who}: KUnit ran {self.plan} suites of a module that carries none")
            return
        if self.kernel != "yes":
            self.r.failed.append(f"{who}: the module carries {self.expect} suites, but the kernel has "
                                 f"no KUnit (kunit={self.kernel})")
        elif self.plan is None:
            self.r.failed.append(f"{who}: none of the module's {self.expect} suites ran (no KTAP in "
                                 f"the kernel log)")
        else:
            if self.plan != self.expect:
                self.r.failed.append(f"{who}: KUnit planned {self.plan} suites, the module carries "
                                     f"{self.expect}")
            if self.ended < self.plan:
                self.r.failed.append(f"{who}: {self.plan - self.ended} of {self.plan} suites never "
                                     f"reported")


def judge(r, label, binary, m, sep=": "):
    """File one TAP result line of BINARY, named "LABEL: BINARY{sep}TEST";
    returns 1 if it is a failure."""
    status, rest = m.group(1), m.group(3)
    d = DIRECTIVE.search(rest)
    name = (rest[:d.start()] if d else rest).strip() or m.group(2)
    full = f"{label}: {binary}{sep}{name}"
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
        total.merge(parse(label, text, need_tests))
    if need_tests and not total.passed:
        total.failed.append("no test passed at all")
    for entry in sorted(set(total.allowed)):
        print(f"ALLOWED SKIP {entry}")
    for line in total.times:
        print(line)
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
