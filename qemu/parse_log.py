#!/usr/bin/env python3
"""Turn guest console logs into a verdict.

Usage: parse_log.py [--no-tests] LABEL=LOG [LABEL=LOG ...]

Each log is the serial console of one guest run (see guest-init.sh). The
verdict fails a run when any selftest fails or is missing, when a test binary
exits non-zero, when the module did not load, when the run did not reach its
end, or when the kernel printed an oops, a WARNING, a BUG, a KASAN or lockdep
report, a general protection fault, a panic or a call trace. SKIPs are
counted apart and never as passes. The last line is "N passed, N failed,
N skipped"; the exit status is 0 only if nothing failed.
"""
import re
import sys

SPLATS = [
    (re.compile(r"\bOops\b|\boops:"), "oops"),
    (re.compile(r"\bBUG:|kernel BUG at"), "BUG"),
    (re.compile(r"\bWARNING:|------------\[ cut here \]------------"), "WARNING"),
    (re.compile(r"\bKASAN\b|BUG: KASAN"), "KASAN report"),
    # Lockdep reports; not the boot banner ("RCU lockdep checking is enabled").
    (re.compile(r"possible circular locking|possible recursive locking|inconsistent lock state|"
                r"suspicious RCU usage|INFO: possible|bad unlock balance|"
                r"lock held when returning to user space|lockdep: .*(?:BUG|WARN)"), "lockdep report"),
    (re.compile(r"general protection fault"), "general protection fault"),
    (re.compile(r"Kernel panic"), "kernel panic"),
    (re.compile(r"Call Trace:"), "call trace"),
    (re.compile(r"sleeping function called from invalid context"), "atomic sleep"),
]
TAP = re.compile(r"^(not ok|ok) (\d+)\s*-?\s*(.*?)\s*$")
PLAN = re.compile(r"^1\.\.(\d+)\s*$")
SKIP = re.compile(r"#\s*SKIP\b", re.IGNORECASE)
# Strip a printk timestamp that may precede user output on the console.
STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


class Result:
    def __init__(self):
        self.passed, self.failed, self.skipped = [], [], []

    def merge(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped


def parse(label, text):
    """Parse one console log; returns a Result with one entry per test or problem."""
    r = Result()
    lines = text.replace("\r", "").split("\n")
    for no, line in enumerate(lines, 1):
        for pat, what in SPLATS:
            if pat.search(line):
                r.failed.append(f"{label}: kernel {what} at console line {no}: {line.strip()[:160]}")
                break
    binary, plan, seen = None, None, 0
    module_loaded = done = False
    for raw in lines:
        line = STAMP.sub("", raw.strip())
        if line.startswith("RPM-MODULE "):
            if line == "RPM-MODULE loaded":
                module_loaded = True
            elif line == "RPM-MODULE failed":
                r.failed.append(f"{label}: insmod rust_pagemap.ko failed")
            continue
        if line == "RPM-DONE":
            done = True
            continue
        if line.startswith("RPM-BEGIN "):
            binary, plan, seen = line.split()[1], None, 0
            continue
        if line.startswith("RPM-END ") and binary:
            parts = line.split()
            code = int(parts[2]) if len(parts) > 2 and parts[2].lstrip("-").isdigit() else -1
            if plan is None:
                r.failed.append(f"{label}: {binary}: printed no TAP plan")
            elif seen < plan:
                r.failed.append(f"{label}: {binary}: {plan - seen} of {plan} planned tests never reported")
            if code != 0:
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
            name = f"{label}: {binary}: {m.group(3) or m.group(2)}"
            if m.group(1) == "not ok":
                r.failed.append(name)
            elif SKIP.search(line):
                r.skipped.append(name)
            else:
                r.passed.append(name)
    if binary is not None:
        r.failed.append(f"{label}: {binary}: never finished (crash or timeout)")
    if not module_loaded:
        r.failed.append(f"{label}: the module was not loaded")
    if not done:
        r.failed.append(f"{label}: the guest did not reach the end of its run")
    return r


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
    for name in total.skipped:
        print(f"SKIP {name}")
    for name in total.failed:
        print(f"FAIL {name}")
    print(f"{len(total.passed)} passed, {len(total.failed)} failed, {len(total.skipped)} skipped")
    return 1 if total.failed or (need_tests and not total.passed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
