#!/usr/bin/env python3
"""Unit tests of vip_moves.py: reading the kernel's address lines, pairing them into moves, and
saying when two witnesses of one step disagree."""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vip_moves  # noqa: E402
from vip_moves import AddressEvent, Move  # noqa: E402

VIP = "10.231.0.10"
# Lines as iproute2 6.1 writes them with `TZ=UTC ip -o -ts monitor address` (from a test bed run).
ADDED = ("[2026-12-02T05:57:09.613828] 2: eth0    inet 10.231.0.10/24 scope global secondary "
         "eth0\\       valid_lft forever preferred_lft forever")
DELETED = ("[2026-12-02T05:57:09.616425] Deleted 2: eth0    inet 10.231.0.10/24 scope global "
           "secondary eth0\\       valid_lft forever preferred_lft forever")
OTHER = ("[2026-12-02T05:57:09.700000] 2: eth0    inet 10.231.0.12/24 scope global eth0\\       "
         "valid_lft forever preferred_lft forever")
# 2026-12-02T05:57:09Z as unix seconds.
T0 = 1796191029.0


class ParseTest(unittest.TestCase):
    def test_an_added_line_is_read_as_utc_with_microseconds(self):
        event = vip_moves.parse_address_line(ADDED, "edge-b", VIP)
        self.assertEqual(event.node, "edge-b")
        self.assertTrue(event.added)
        self.assertAlmostEqual(event.wall, T0 + 0.613828, places=6)

    def test_a_deleted_line_is_a_deletion(self):
        event = vip_moves.parse_address_line(DELETED, "edge-a", VIP)
        self.assertFalse(event.added)
        self.assertAlmostEqual(event.wall, T0 + 0.616425, places=6)

    def test_other_addresses_and_garbage_are_ignored(self):
        for line in (OTHER, "", "Deleted", "[not a time] 2: eth0 inet 10.231.0.10/24",
                     ADDED.replace("10.231.0.10/", "10.231.0.100/")):
            with self.subTest(line=line):
                self.assertIsNone(vip_moves.parse_address_line(line, "edge-a", VIP))

    def test_logs_of_both_edges_come_back_in_time_order(self):
        with tempfile.TemporaryDirectory() as work:
            a, b = os.path.join(work, "a.log"), os.path.join(work, "b.log")
            with open(a, "w", encoding="utf-8") as f:
                f.write(DELETED + "\n" + "half a line without newline")
            with open(b, "w", encoding="utf-8") as f:
                f.write(OTHER + "\n" + ADDED + "\n")
            events = vip_moves.read_address_logs({"edge-a": a, "edge-b": b}, VIP)
        self.assertEqual([(e.node, e.added) for e in events], [("edge-b", True), ("edge-a", False)])


def ev(wall, node, added):
    return AddressEvent(wall, node, added)


class PairTest(unittest.TestCase):
    def test_a_demotion_and_its_failback_are_two_moves(self):
        # Set-up add on edge-a, then the demoted MASTER leaves after the peer took over (added
        # on edge-b first), then preempt brings it back.
        events = [ev(1.0, "edge-a", True), ev(10.000, "edge-b", True), ev(10.003, "edge-a", False),
                  ev(14.000, "edge-a", True), ev(14.001, "edge-b", False)]
        moves = vip_moves.pair_moves(events)
        self.assertEqual(moves, [Move("edge-a", 1.0), Move("edge-b", 10.0, "edge-a", 10.003),
                                 Move("edge-a", 14.0, "edge-b", 14.001)])
        self.assertEqual((moves[1].first, moves[1].last), (10.0, 10.003))

    def test_a_deletion_before_the_addition_belongs_to_the_same_move(self):
        # A crashed MASTER's VIP is removed first; the peer adds it after its master-down timer.
        events = [ev(1.0, "edge-a", True), ev(5.0, "edge-a", False), ev(5.35, "edge-b", True)]
        move = vip_moves.pair_moves(events)[-1]
        self.assertEqual(move, Move("edge-b", 5.35, "edge-a", 5.0))
        self.assertEqual((move.first, move.last), (5.0, 5.35))

    def test_a_deletion_on_the_same_node_or_past_the_next_addition_is_not_paired(self):
        events = [ev(10.0, "edge-b", True), ev(10.1, "edge-b", False), ev(12.0, "edge-a", True),
                  ev(12.5, "edge-a", False)]
        self.assertEqual(vip_moves.pair_moves(events),
                         [Move("edge-b", 10.0), Move("edge-a", 12.0, "edge-b", 10.1)])

    def test_moves_within_keeps_those_with_a_witness_in_the_window(self):
        moves = [Move("edge-a", 1.0), Move("edge-b", 10.0, "edge-a", 10.003)]
        self.assertEqual(vip_moves.moves_within(moves, 10.002, 20.0), moves[1:])
        self.assertEqual(vip_moves.moves_within(moves, 10.004, 20.0), [])


class WitnessTest(unittest.TestCase):
    def test_witnesses_within_the_tolerance_agree(self):
        self.assertIsNone(vip_moves.disagreement("the kernel", 10.0, "notify", 10.0999))
        self.assertIsNone(vip_moves.disagreement("the kernel", None, "notify", None))

    def test_a_late_or_missing_witness_is_named(self):
        self.assertEqual(vip_moves.disagreement("the kernel", 10.0, "notify", 10.5),
                         "notify is 500 ms later than the kernel (tolerance 100 ms)")
        self.assertEqual(vip_moves.disagreement("the kernel", 10.0, "notify", None),
                         "the kernel saw it, notify did not")

    def test_notify_master_after(self):
        changes = [(1.0, "edge-b", "MASTER"), (9.0, "edge-a", "MASTER"), (10.5, "edge-b", "MASTER")]
        self.assertEqual(vip_moves.notify_master_after(changes, "edge-b", 5.0), 10.5)
        self.assertIsNone(vip_moves.notify_master_after(changes, "edge-a", 9.5))


if __name__ == "__main__":
    unittest.main()
