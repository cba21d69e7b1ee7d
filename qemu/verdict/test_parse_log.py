#!/usr/bin/env python3
"""Host-side tests of parse_log.py on consoles recorded from real guest runs
(qemu/verdict/testdata, trimmed to a few programs; testdata/README says which run
each comes from). Variants no real run produced on demand (a splat, a leak,
a skip) are a real console with lines edited or spliced in by the test."""
import os
import re
import unittest

import parse_log

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")

# How a run ends (the guest's last lines, as a real run of this branch printed them).
END = ["RPM-RUNNER exit=1", "RPM-MODULE unloaded", "RPM-INFO kmemleak: two scans in 41 s",
       "RPM-KMEMLEAK leaks=0", "RPM-DONE"]


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def complete_4level():
    """The real 4-level console up to the program the boot timeout cut off,
    with the runner's plan set to the three programs that ended and the
    guest's real ending appended: pagemap_read_errors and
    pagemap_scan_attach pass, pagemap_read_kinds has one real failure (the
    1 GiB hugetlb case killed by the harness timeout under load)."""
    text = load("timeout-1g-4level.log")
    text = text[:text.index("# selftests: rust_pagemap: pagemap_scan_categories")]
    # A module without KUnit suites, as on a kernel without KUnit (the line came later).
    text = text.replace("RPM-MODULE loaded (modprobe rust_pagemap)\n",
                        "RPM-MODULE loaded (modprobe rust_pagemap)\n" + NO_KUNIT + "\n", 1)
    return text.replace("\n1..4\n", "\n1..3\n") + "\n".join(END) + "\n"


KINDS_FAILURE = "4level: pagemap_read_kinds: kinds.hugetlb_1g_private"
NO_KUNIT = "RPM-KUNIT-EXPECT suites=0 kunit=no"


def splice(text, after, lines):
    """The console with `lines` inserted after the first line starting with `after`."""
    out, done = [], False
    for line in text.split("\n"):
        out.append(line)
        if not done and line.startswith(after):
            out.extend(lines)
            done = True
    assert done, after
    return "\n".join(out)


def in_attach(text, old, new):
    """Replace `old` by `new` once, inside pagemap_scan_attach's output."""
    start = text.index("# selftests: rust_pagemap: pagemap_scan_attach")
    at = text.index(old, start)
    return text[:at] + new + text[at + len(old):]


def counts(r):
    return len(r.passed), len(r.failed), len(r.skipped)


class RealConsoles(unittest.TestCase):
    def test_complete_run_counts_tests_not_lines(self):
        r = parse_log.parse("4level", complete_4level())
        self.assertEqual(r.failed, [KINDS_FAILURE])  # not also "exit=1" of the program
        self.assertEqual(counts(r), (15 + 18 + 5, 1, 0))

    def test_kernel_message_inside_a_tap_line_is_split_off(self):
        # The header line exactly as the fresh-clone CI console of 365d8f1 printed it: the
        # runner's /dev/kmsg note landed before the line's newline, and the plan was lost.
        text = complete_4level().replace(
            "\nTAP version 13\n",
            "\nTAP version 13[   22.648863] kselftest: Running tests in rust_pagemap\n", 1)
        self.assertIn("kselftest: Running tests in rust_pagemap", text)
        r = parse_log.parse("4level", text)
        self.assertEqual(r.failed, [KINDS_FAILURE])
        self.assertEqual(counts(r), (15 + 18 + 5, 1, 0))

    def test_boot_noise_is_not_a_splat(self):
        # The real boot prints "RCU lockdep checking is enabled", KASAN's
        # banner, "Watchdog remote CPU 1 read timed out", ACPI errors, and
        # the memory-failure injection of the scan tests.
        r = parse_log.parse("4level", load("timeout-1g-4level.log"))
        self.assertFalse([f for f in r.failed if ": kernel " in f], r.failed)

    def test_timed_out_run(self):
        r = parse_log.parse("4level", load("timeout-1g-4level.log"))
        for want in ("4level: pagemap_scan_categories: started and never ended (crash or timeout)",
                     "4level: 1 of 4 test programs never reported",
                     "4level: the module was not unloaded (RPM-MODULE unloaded missing)",
                     "4level: no kmemleak scan after the suite",
                     "4level: the guest did not reach the end of its run", KINDS_FAILURE):
            self.assertIn(want, r.failed)

    def test_real_kasan_report_at_boot(self):
        r = parse_log.parse("5level", load("kasan-boot-5level.log"))
        kernel = [f for f in r.failed if ": kernel " in f]
        self.assertEqual(kernel, ["5level: kernel KASAN report (first at console line 131: "
                                  "BUG: KASAN: wild-memory-access in do_raw_spin_lock+0xb8/0x1d0)"])

    def test_paging_level_must_match_the_run(self):
        r = parse_log.parse("5level", complete_4level())
        self.assertIn("5level: environment: needs 5-level paging (paging=4), did not have it", r.failed)

    def test_missing_gigantic_page_fails_by_name(self):
        r = parse_log.parse("5level", load("no-1g-page-3G-5level.log"))
        self.assertIn("5level: environment: needs a 1 GiB hugetlb page, did not have it", r.failed)


class Variants(unittest.TestCase):
    def parse(self, text, label="4level"):
        return parse_log.parse(label, text)

    def test_one_cpu_fails(self):
        text = complete_4level().replace("RPM-ENV cpus=2 ", "RPM-ENV cpus=1 ")
        self.assertTrue(any("2 online CPUs (cpus=1)" in f for f in self.parse(text).failed))

    def test_jiffies_clocksource_and_missing_features_fail(self):
        text = complete_4level().replace("clocksource=tsc", "clocksource=refined-jiffies")
        text = text.replace("swap=1", "swap=0").replace("uffd_wp_async=1", "uffd_wp_async=0")
        failed = " ".join(self.parse(text).failed)
        for what in ("real clocksource", "swap device", "WP_ASYNC"):
            self.assertIn(what, failed)

    def test_no_env_line_fails(self):
        text = "\n".join(l for l in complete_4level().split("\n") if not l.startswith("RPM-ENV"))
        self.assertTrue(any("no RPM-ENV line" in f for f in self.parse(text).failed))

    def test_module_not_unloaded_fails(self):
        text = complete_4level().replace("RPM-MODULE unloaded", "RPM-MODULE unload failed")
        self.assertTrue(any("not unloaded" in f for f in self.parse(text).failed))

    def test_module_load_failure_fails(self):
        text = complete_4level().replace("RPM-MODULE loaded (modprobe rust_pagemap)",
                                         "RPM-MODULE failed (modprobe rust_pagemap)")
        self.assertIn("4level: loading rust_pagemap failed (modprobe rust_pagemap)", self.parse(text).failed)

    def test_leak_fails_and_report_is_kept(self):
        text = complete_4level().replace(
            "RPM-KMEMLEAK leaks=0", "RPM-KMEMLEAK leaks=1\n"
            "RPM-KMEMLEAK-REPORT unreferenced object 0xffff888003a1c000 (size 64):\n"
            "RPM-KMEMLEAK-REPORT   backtrace (crc 0):")
        r = self.parse(text)
        self.assertEqual(r.failed, [KINDS_FAILURE, "4level: kmemleak: 1 leaks"])
        self.assertTrue(any("unreferenced object" in d for d in r.details))

    def test_performance_kernel_run_needs_no_leak_scan(self):
        text = complete_4level().replace("RPM-KMEMLEAK leaks=0",
                                         "RPM-KMEMLEAK unavailable (no debugfs file, or kmemleak disabled itself)")
        self.assertEqual(parse_log.parse("4level-perf", text).failed, [KINDS_FAILURE.replace("4level", "4level-perf")])
        self.assertIn("4level: kmemleak: unavailable (no debugfs file, or kmemleak disabled itself)",
                      parse_log.parse("4level", text).failed)

    def test_no_leak_scan_fails(self):
        text = complete_4level().replace("RPM-KMEMLEAK leaks=0", "RPM-KMEMLEAK unavailable")
        self.assertTrue(any("kmemleak: unavailable" in f for f in self.parse(text).failed))

    def test_skip_fails_unless_allowed(self):
        text = in_attach(complete_4level(), "# 1..5\n", "# 1..6\n")
        text = in_attach(text, "\nok 5 selftests", "\n# ok 6 global.huge_1g # SKIP no 1 GiB hugetlb page"
                         "\nok 5 selftests")
        r = self.parse(text)
        self.assertIn("4level: pagemap_scan_attach: global.huge_1g: SKIP (no 1 GiB hugetlb page) "
                      "is not on the allow-list", r.failed)
        saved = dict(parse_log.ALLOWED_SKIPS)
        try:
            parse_log.ALLOWED_SKIPS[("pagemap_scan_attach", "global.huge_1g")] = "test reason"
            r = self.parse(text)
            self.assertEqual(r.failed, [KINDS_FAILURE])
            self.assertEqual(r.skipped, ["4level: pagemap_scan_attach: global.huge_1g"])
        finally:
            parse_log.ALLOWED_SKIPS.clear()
            parse_log.ALLOWED_SKIPS.update(saved)

    def test_program_level_skip_or_timeout_is_not_a_pass(self):
        text = complete_4level().replace("ok 5 selftests: rust_pagemap: pagemap_scan_attach",
                                         "ok 5 selftests: rust_pagemap: pagemap_scan_attach # SKIP")
        self.assertIn("4level: pagemap_scan_attach: ok # SKIP", self.parse(text).failed)
        text = complete_4level().replace("ok 5 selftests: rust_pagemap: pagemap_scan_attach",
                                         "not ok 5 selftests: rust_pagemap: pagemap_scan_attach"
                                         " # TIMEOUT 600 seconds")
        self.assertIn("4level: pagemap_scan_attach: not ok # TIMEOUT 600 seconds", self.parse(text).failed)

    def test_xfail_and_xpass_are_not_passes(self):
        text = in_attach(complete_4level(), "# 1..5\n", "# 1..7\n")
        text = in_attach(text, "\nok 5 selftests", "\n# ok 6 global.a # XFAIL known\n# ok 7 global.b # XPASS"
                         "\nok 5 selftests")
        failed = self.parse(text).failed
        self.assertTrue(any("global.a: XFAIL is not a pass" in f for f in failed), failed)
        self.assertTrue(any("global.b: XPASS is not a pass" in f for f in failed), failed)

    def test_program_that_never_ends_fails(self):
        text = "\n".join(l for l in complete_4level().split("\n")
                         if not re.match(r"ok \d+ selftests: rust_pagemap: pagemap_scan_attach", l))
        failed = self.parse(text).failed
        self.assertIn("4level: pagemap_scan_attach: started and never ended (crash or timeout)", failed)
        self.assertIn("4level: 1 of 3 test programs never reported", failed)

    def test_exit_status_without_failed_test_fails_once(self):
        text = complete_4level().replace("ok 5 selftests: rust_pagemap: pagemap_scan_attach",
                                         "not ok 5 selftests: rust_pagemap: pagemap_scan_attach # exit=139")
        r = self.parse(text)
        self.assertEqual(r.failed, [KINDS_FAILURE, "4level: pagemap_scan_attach: not ok # exit=139"])

    def test_failing_test_shows_what_it_said(self):
        # CI shows only the end of the log: a failure carries its own lines there.
        r = self.parse(complete_4level())
        said = [d for d in r.details if d.startswith("4level: pagemap_read_kinds: ")]
        self.assertIn("4level: pagemap_read_kinds: hugetlb_1g_private: Test terminated by timeout", said)
        self.assertNotIn("4level: pagemap_read_kinds:            OK  kinds.hugetlb_2m_mapped_by_two_not_exclusive",
                         said)

    def test_program_seconds_from_time_stamps(self):
        text = splice(complete_4level(), "# selftests: rust_pagemap: pagemap_scan_attach",
                      ["RPM-TIME 100.25 # selftests: rust_pagemap: pagemap_scan_attach"])
        text = splice(text, "ok 5 selftests: rust_pagemap: pagemap_scan_attach",
                      ["RPM-TIME 142.75 ok 5 selftests: rust_pagemap: pagemap_scan_attach"])
        r = self.parse(text)
        self.assertEqual(r.times, ["4level: seconds: pagemap_scan_attach 42"])
        self.assertEqual(counts(r), counts(self.parse(complete_4level())))

    def test_missing_planned_tests_fail(self):
        text = in_attach(complete_4level(), "# 1..5\n", "# 1..7\n")
        self.assertIn("4level: pagemap_scan_attach: 2 of 7 planned tests never reported",
                      self.parse(text).failed)

    def test_other_programs_after_the_runner_are_counted(self):
        # qemu/guest/guest-others.sh's programs (directly and redirected) follow the runner.
        others = ["RPM-BEGIN redirect", "1..2", "ok 1 redirect: mkdirty redirected: same result",
                  "not ok 2 redirect: madv_populate redirected: differs", "RPM-END redirect 1"]
        r = self.parse(splice(complete_4level(), "RPM-RUNNER", others))
        self.assertIn("4level: redirect: redirect: madv_populate redirected: differs", r.failed)
        self.assertEqual(counts(r), (15 + 18 + 5 + 1, 2, 0))

    def test_other_program_cut_off_fails(self):
        others = ["RPM-BEGIN redirect", "1..3", "ok 1 redirect: mkdirty redirected: same result"]
        r = self.parse(splice(complete_4level(), "RPM-RUNNER", others))
        self.assertIn("4level: redirect: started and never ended (crash or timeout)", r.failed)

    def test_other_program_missing_results_and_status_fail(self):
        others = ["RPM-BEGIN redirect", "1..3", "ok 1 redirect: mkdirty redirected: same result",
                  "RPM-END redirect 2"]
        failed = self.parse(splice(complete_4level(), "RPM-RUNNER", others)).failed
        self.assertIn("4level: redirect: 2 of 3 planned tests never reported", failed)
        self.assertIn("4level: redirect: exited with status 2", failed)

    def test_runner_that_never_ran_fails(self):
        text = re.sub(r"(?s)\nTAP version 13\n.*?(?=\nRPM-RUNNER)", "\nNo such test 'x'", complete_4level())
        self.assertIn("4level: the kselftest runner printed no plan (did it run?)", self.parse(text).failed)

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
                text = splice(complete_4level(), "# selftests: rust_pagemap: pagemap_scan_attach", stamped)
                kernel = [f for f in self.parse(text).failed if ": kernel " in f]
                self.assertEqual(len(kernel), 1, kernel)
                self.assertIn(f"kernel {kind} (first at console line", kernel[0])

    def test_main_exit_status(self):
        self.assertEqual(parse_log.main([f"4level={DATA}/timeout-1g-4level.log"]), 1)
        self.assertEqual(parse_log.main([f"5level={DATA}/does-not-exist.log"]), 1)


class KunitResults(unittest.TestCase):
    """The module's KUnit KTAP, as the guest copies it from the kernel log
    (RPM-KUNIT lines): a real console of a module with two scratch suites,
    rpm_scratch_two (also_passes) and rpm_scratch (passes, and fails: a
    failed assert_eq!), with one selftest program."""
    PASSES = ["5level: kunit.rpm_scratch_two.also_passes", "5level: kunit.rpm_scratch.passes"]
    FAILS = "5level: kunit.rpm_scratch.fails"

    def text(self):
        return load("kunit-scratch-5level.log")

    def parse(self, text):
        return parse_log.parse("5level", text)

    def edit(self, old, new, text=None):
        text = self.text() if text is None else text
        self.assertIn(old, text)
        return text.replace(old, new, 1)

    def test_each_case_is_a_test(self):
        r = self.parse(self.text())
        self.assertEqual(r.failed, [self.FAILS])
        for name in self.PASSES:
            self.assertIn(name, r.passed)
        # 2 cases and the selftest program's 2 tests
        self.assertEqual(counts(r), (4, 1, 0))

    def test_failing_case_shows_its_assertion(self):
        said = self.parse(self.text()).details
        self.assertIn("5level: kunit.rpm_scratch: # fails: ASSERTION FAILED at rust_pagemap.rs:268", said)
        self.assertIn("5level: kunit.rpm_scratch: Expected two == 3 to be true, but is false", said)
        self.assertFalse([d for d in said if "speed: normal" in d], said)

    def test_kernels_own_suites_at_boot_are_not_the_modules(self):
        # rust_kernel_fmt and friends ran at boot, on the console only.
        r = self.parse(self.text())
        self.assertFalse([t for t in r.passed + r.failed if "rust_kernel_fmt" in t])

    def test_skip_fails_unless_allowed(self):
        text = self.edit("RPM-KUNIT     not ok 2 fails", "RPM-KUNIT     ok 2 fails # SKIP not here")
        self.assertIn(f"{self.FAILS}: SKIP (not here) is not on the allow-list", self.parse(text).failed)
        text = self.edit("RPM-KUNIT not ok 2 rpm_scratch", "RPM-KUNIT ok 2 rpm_scratch", text)
        saved = dict(parse_log.ALLOWED_SKIPS)
        try:
            parse_log.ALLOWED_SKIPS[("kunit.rpm_scratch", "fails")] = "test reason"
            r = self.parse(text)
            self.assertEqual(r.failed, [])
            self.assertEqual(r.skipped, [self.FAILS])
        finally:
            parse_log.ALLOWED_SKIPS.clear()
            parse_log.ALLOWED_SKIPS.update(saved)

    def test_suite_not_ok_without_a_failed_case_fails(self):
        # A suite whose init failed reports "not ok" with no case to explain it.
        text = self.edit("RPM-KUNIT     not ok 2 fails", "RPM-KUNIT     ok 2 fails")
        self.assertEqual(self.parse(text).failed, ["5level: kunit.rpm_scratch: not ok"])

    def test_fewer_cases_than_planned_fail(self):
        text = self.edit("RPM-KUNIT     ok 1 passes\n", "")
        self.assertIn("5level: kunit.rpm_scratch: 1 of 2 planned cases never reported", self.parse(text).failed)

    def test_suite_cut_off_fails(self):
        text = self.text()
        cut = text.index("RPM-KUNIT     # fails: ASSERTION")
        rest = "\n".join(l for l in text[cut:].split("\n") if not l.startswith("RPM-KUNIT"))
        failed = self.parse(text[:cut] + rest).failed
        self.assertIn("5level: kunit.rpm_scratch: started and never ended (crash or timeout)", failed)
        self.assertIn("5level: kunit: 1 of 2 suites never reported", failed)

    def test_no_ktap_from_a_module_with_suites_fails(self):
        text = "\n".join(l for l in self.text().split("\n") if not l.startswith("RPM-KUNIT "))
        self.assertEqual(self.parse(text).failed,
                         ["5level: kunit: none of the module's 2 suites ran (no KTAP in the kernel log)"])

    def test_fewer_suites_than_the_module_carries_fail(self):
        text = self.edit("RPM-KUNIT-EXPECT suites=2", "RPM-KUNIT-EXPECT suites=3")
        self.assertIn("5level: kunit: KUnit planned 2 suites, the module carries 3", self.parse(text).failed)

    def test_suites_without_kunit_in_the_kernel_fail(self):
        text = self.edit("kunit=yes", "kunit=no")
        self.assertIn("5level: kunit: the module carries 2 suites, but the kernel has no KUnit (kunit=no)",
                      self.parse(text).failed)

    def test_ktap_from_a_module_without_suites_fails(self):
        text = self.edit("RPM-KUNIT-EXPECT suites=2", "RPM-KUNIT-EXPECT suites=0")
        self.assertIn("5level: kunit: KUnit ran 2 suites of a module that carries none", self.parse(text).failed)

    def test_unknown_count_fails(self):
        text = self.edit("RPM-KUNIT-EXPECT suites=2", "RPM-KUNIT-EXPECT suites=?")
        self.assertIn("5level: kunit: the guest did not know how many suites the module carries",
                      self.parse(text).failed)

    def test_no_expectation_line_fails(self):
        text = complete_4level().replace(NO_KUNIT + "\n", "")
        self.assertIn("4level: kunit: no RPM-KUNIT-EXPECT line: the module's KUnit suites were not checked",
                      parse_log.parse("4level", text).failed)

    def test_module_without_suites_needs_no_ktap(self):
        # The performance kernel's module: no KUnit in the kernel, no suites in the module.
        self.assertEqual(parse_log.parse("4level-perf", complete_4level()).failed,
                         [KINDS_FAILURE.replace("4level", "4level-perf")])
        text = complete_4level().replace(NO_KUNIT, "RPM-KUNIT-EXPECT suites=0 kunit=yes")
        self.assertEqual(parse_log.parse("4level", text).failed, [KINDS_FAILURE])

    def test_main_exit_status(self):
        self.assertEqual(parse_log.main([f"5level={DATA}/kunit-scratch-5level.log"]), 1)
        text = self.edit("RPM-KUNIT     not ok 2 fails", "RPM-KUNIT     ok 2 fails")
        text = self.edit("RPM-KUNIT not ok 2 rpm_scratch", "RPM-KUNIT ok 2 rpm_scratch", text)
        r = self.parse(text)
        self.assertEqual((r.failed, len(r.passed)), ([], 5))


if __name__ == "__main__":
    unittest.main()
