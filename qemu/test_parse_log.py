#!/usr/bin/env python3
"""Host-side tests of parse_log.py on consoles recorded from real guest runs
(qemu/testdata, trimmed to a few programs; see testdata/README). Variants a
real run could not easily be made to produce (a kernel splat, a leak) are the
real console with those lines spliced in, each saying which."""
import os
import unittest

import parse_log

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def splice(text, after, lines):
    """The console with `lines` inserted after the first line starting with `after`."""
    out = []
    done = False
    for line in text.split("\n"):
        out.append(line)
        if not done and line.startswith(after):
            out.extend(lines)
            done = True
    assert done, after
    return "\n".join(out)


def counts(r):
    return len(r.passed), len(r.failed), len(r.skipped)


RACE = "race-fail-4level.log"  # 2 CPUs, 4-level, softdirty_race fails for real
RACE_FAILURE = "4level: softdirty_race: global.get_and_clear_loses_no_write"


class RealConsoles(unittest.TestCase):
    def test_real_run_counts_tests_and_its_one_failure(self):
        r = parse_log.parse("4level", load(RACE))
        self.assertEqual(r.failed, [RACE_FAILURE])
        self.assertEqual(counts(r), (5, 1, 0))

    def test_boot_noise_is_not_a_splat(self):
        # The real boot prints "RCU lockdep checking is enabled", KASAN's
        # banner, "Watchdog remote CPU 1 read timed out", ACPI errors...
        r = parse_log.parse("4level", load(RACE))
        self.assertFalse([f for f in r.failed if "kernel" in f], r.failed)

    def test_paging_level_must_match_the_run(self):
        r = parse_log.parse("5level", load(RACE))
        self.assertIn("5level: environment: needs 5-level paging (paging=4), did not have it", r.failed)

    def test_missing_gigantic_page_fails_by_name(self):
        r = parse_log.parse("5level", load("no-1g-page-3G-5level.log"))
        self.assertEqual(r.failed, ["5level: environment: needs a 1 GiB hugetlb page, did not have it"])

    def test_timed_out_run_fails(self):
        r = parse_log.parse("5level", load("timeout-5level.log"))
        self.assertIn("5level: the guest did not reach the end of its run", r.failed)
        self.assertIn("5level: no kmemleak scan after the suite", r.failed)
        self.assertIn("5level: softdirty_race: global.get_and_clear_loses_no_write", r.failed)


class Variants(unittest.TestCase):
    def parse(self, text, label="4level"):
        return parse_log.parse(label, text)

    def test_one_cpu_fails(self):
        text = load(RACE).replace("RPM-ENV cpus=2 ", "RPM-ENV cpus=1 ")
        self.assertTrue(any("2 online CPUs (cpus=1)" in f for f in self.parse(text).failed))

    def test_jiffies_clocksource_and_missing_features_fail(self):
        text = load(RACE).replace("clocksource=tsc", "clocksource=refined-jiffies")
        text = text.replace("swap=1", "swap=0").replace("uffd_wp_async=1", "uffd_wp_async=0")
        failed = " ".join(self.parse(text).failed)
        for what in ("real clocksource", "swap device", "WP_ASYNC"):
            self.assertIn(what, failed)

    def test_no_env_line_fails(self):
        text = "\n".join(l for l in load(RACE).split("\n") if not l.startswith("RPM-ENV"))
        self.assertTrue(any("no RPM-ENV line" in f for f in self.parse(text).failed))

    def test_module_not_unloaded_fails(self):
        text = load(RACE).replace("RPM-MODULE unloaded", "RPM-MODULE unload failed")
        self.assertTrue(any("not unloaded" in f for f in self.parse(text).failed))

    def test_leak_fails_and_report_is_kept(self):
        text = load(RACE).replace("RPM-KMEMLEAK leaks=0", "RPM-KMEMLEAK leaks=1\n"
                                  "RPM-KMEMLEAK-REPORT unreferenced object 0xffff888003a1c000 (size 64):\n"
                                  "RPM-KMEMLEAK-REPORT   backtrace (crc 0):\n")
        r = self.parse(text)
        self.assertIn("4level: kmemleak: 1 leaks", r.failed)
        self.assertEqual(len(r.failed), 2)  # the leak (once) and the real race failure
        self.assertTrue(any("unreferenced object" in d for d in r.details))

    def test_no_leak_scan_fails(self):
        text = load(RACE).replace("RPM-KMEMLEAK leaks=0", "RPM-KMEMLEAK unavailable")
        self.assertTrue(any("kmemleak: unavailable" in f for f in self.parse(text).failed))

    def test_skip_fails_unless_allowed(self):
        text = splice(load(RACE), "ok 5 ", ["ok 6 global.huge_1g # SKIP no 1 GiB hugetlb page"])
        text = text.replace("1..5", "1..6")
        r = self.parse(text)
        self.assertTrue(any("huge_1g: SKIP (no 1 GiB hugetlb page) is not on the allow-list" in f
                            for f in r.failed), r.failed)
        saved = dict(parse_log.ALLOWED_SKIPS)
        try:
            parse_log.ALLOWED_SKIPS[("pagemap_scan_attach", "global.huge_1g")] = "test reason"
            r = self.parse(text)
            self.assertEqual(r.failed, [RACE_FAILURE])
            self.assertEqual(r.skipped, ["4level: pagemap_scan_attach: global.huge_1g"])
        finally:
            parse_log.ALLOWED_SKIPS.clear()
            parse_log.ALLOWED_SKIPS.update(saved)

    def test_xfail_and_xpass_are_not_passes(self):
        text = splice(load(RACE), "ok 5 ", ["ok 6 global.a # XFAIL known", "ok 7 global.b # XPASS"])
        failed = self.parse(text.replace("1..5", "1..7")).failed
        self.assertTrue(any("global.a: XFAIL is not a pass" in f for f in failed))
        self.assertTrue(any("global.b: XPASS is not a pass" in f for f in failed))

    def test_program_that_never_ends_fails(self):
        text = "\n".join(l for l in load(RACE).split("\n") if not l.startswith("RPM-END softdirty_race"))
        self.assertTrue(any("softdirty_race: started and never ended" in f for f in self.parse(text).failed))

    def test_exit_status_alone_is_one_failure_and_not_doubled(self):
        # softdirty_race exits 1 with its failed test: one failure, not two.
        self.assertEqual(len(self.parse(load(RACE)).failed), 1)
        text = load(RACE).replace("RPM-END pagemap_scan_attach 0", "RPM-END pagemap_scan_attach 139")
        self.assertIn("4level: pagemap_scan_attach: exited with status 139", self.parse(text).failed)

    def test_missing_planned_tests_fail(self):
        text = load(RACE).replace("1..5", "1..7")
        self.assertTrue(any("2 of 7 planned tests never reported" in f for f in self.parse(text).failed))

    def test_each_splat_kind_fails_once(self):
        splats = {
            "WARNING": ["------------[ cut here ]------------",
                        "WARNING: CPU: 0 PID: 77 at mm/memory.c:123 zap_pte_range+0x1/0x2",
                        "Call Trace:", "------------[ cut here ]------------",
                        "WARNING: CPU: 1 PID: 78 at mm/memory.c:123 zap_pte_range+0x1/0x2"],
            "KASAN report": ["BUG: KASAN: slab-use-after-free in walk+0x10/0x20", "Call Trace:"],
            "lockdep report": ["WARNING: possible circular locking dependency detected"],
            "hung task": ["INFO: task softdirty_race:123 blocked for more than 120 seconds."],
            "soft lockup": ["watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [softdirty_race:99]"],
            "RCU stall": ["rcu: INFO: rcu_preempt self-detected stall on CPU"],
            "kmemleak report": ["kmemleak: unreferenced object 0xffff888003a1c000 (size 64):"],
            "general protection fault": ["Oops: general protection fault, probably for non-canonical"
                                         " address 0xdead000000000100: 0000 [#1] SMP KASAN"],
            "call trace": ["Call Trace:"],
        }
        for kind, lines in splats.items():
            with self.subTest(kind=kind):
                stamped = [f"[  100.000000] {l}" for l in lines]
                r = self.parse(splice(load(RACE), "RPM-BEGIN softdirty_race", stamped))
                kernel = [f for f in r.failed if ": kernel " in f]
                self.assertEqual(len(kernel), 1, kernel)
                self.assertIn(f"kernel {kind} (first at console line", kernel[0])

    def test_main_exit_status_and_last_line(self):
        self.assertEqual(parse_log.main([f"4level={DATA}/{RACE}"]), 1)
        self.assertEqual(parse_log.main([f"5level={DATA}/does-not-exist.log"]), 1)


if __name__ == "__main__":
    unittest.main()
