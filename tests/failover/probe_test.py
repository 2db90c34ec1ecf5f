#!/usr/bin/env python3
"""Unit tests of probe.summarize and the probe's target check (no network)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import probe  # noqa: E402


def result(start, ok, latency=0.001):
    return {"mono": start, "ok": ok, "latency": latency}


class SummarizeTest(unittest.TestCase):
    def test_all_ok_gap_is_the_pace(self):
        results = [result(10 + 0.05 * i, True) for i in range(20)]
        s = probe.summarize(results, 10.0, 11.0)
        self.assertEqual((s["total"], s["failed"]), (20, 0))
        self.assertAlmostEqual(s["longest_gap"], 0.05, places=3)
        self.assertFalse(s["longest_gap_open"])

    def test_outage_in_the_middle(self):
        results = [result(10.0, True), result(10.1, False), result(10.6, False),
                   result(11.0, True), result(11.05, True)]
        s = probe.summarize(results, 10.0, 11.1)
        self.assertEqual(s["failed"], 2)
        self.assertAlmostEqual(s["longest_gap"], 1.0, places=3)
        self.assertAlmostEqual(s["longest_gap_start"], 0.001, places=3)
        self.assertFalse(s["longest_gap_open"])
        self.assertAlmostEqual(s["first_failure"], 0.1, places=3)

    def test_outage_still_open_at_the_end_counts(self):
        results = [result(10.0, True), result(10.5, False), result(11.0, False)]
        s = probe.summarize(results, 10.0, 13.0)
        self.assertAlmostEqual(s["longest_gap"], 2.999, places=3)
        self.assertTrue(s["longest_gap_open"])

    def test_no_success_at_all_is_the_whole_window(self):
        s = probe.summarize([result(10.0, False)], 10.0, 12.0)
        self.assertEqual(s["longest_gap"], 2.0)
        self.assertTrue(s["longest_gap_open"])


class TargetTest(unittest.TestCase):
    def test_accepts_the_vip(self):
        self.assertEqual(probe.check_target("http://10.231.0.10:8080/", "10.231.0.0/24"),
                         ("10.231.0.10", 8080, "/"))

    def test_refuses_outside_addresses_and_names(self):
        for url in ("http://192.0.2.1:8080/", "http://example.com/", "https://10.231.0.10/"):
            with self.assertRaises(SystemExit):
                probe.check_target(url, "10.231.0.0/24")


if __name__ == "__main__":
    unittest.main()
