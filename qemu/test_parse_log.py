#!/usr/bin/env python3
"""Host-side tests of parse_log.py on recorded console logs (qemu/testdata)."""
import os
import unittest

import parse_log

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")


def parse(name):
    with open(os.path.join(DATA, name)) as f:
        return parse_log.parse(name, f.read())


class ParseLog(unittest.TestCase):
    def test_clean_run_passes_and_counts_skip_apart(self):
        r = parse("clean.log")
        self.assertEqual((len(r.passed), len(r.failed), len(r.skipped)), (2, 0, 1))

    def test_recorded_warning_fails(self):
        r = parse("warn.log")
        self.assertTrue(any("WARNING" in f for f in r.failed), r.failed)

    def test_kasan_report_fails(self):
        self.assertTrue(any("KASAN" in f for f in parse("kasan.log").failed))

    def test_lockdep_report_fails(self):
        self.assertTrue(any("lockdep" in f for f in parse("lockdep.log").failed))

    def test_failed_case_and_exit_status_fail(self):
        r = parse("fail.log")
        self.assertIn("fail.log: pagemap_read_diff: diff.b", r.failed)
        self.assertTrue(any("exited with status 1" in f for f in r.failed))

    def test_truncated_run_fails(self):
        r = parse("truncated.log")
        self.assertTrue(any("never finished" in f for f in r.failed))
        self.assertTrue(any("did not reach the end" in f for f in r.failed))

    def test_module_load_failure_fails(self):
        self.assertTrue(any("insmod" in f for f in parse("noload.log").failed))

    def test_main_exit_status(self):
        self.assertEqual(parse_log.main([f"a={DATA}/clean.log"]), 0)
        self.assertEqual(parse_log.main([f"a={DATA}/warn.log"]), 1)
        self.assertEqual(parse_log.main([f"a={DATA}/does-not-exist.log"]), 1)


if __name__ == "__main__":
    unittest.main()
