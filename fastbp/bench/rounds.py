"""Ratios measured round by round, and how far to trust them.

On a shared machine two engines timed one after the other can differ for reasons of load
alone.  Timed in interleaved rounds -- A B C, A B C, ... -- the engines of one round share the
machine's state, so the *ratio within a round* is what survives noise.  ``Ratio.of`` takes the
per-round times of two engines and keeps the median of the per-round ratios and their
interquartile range; a ratio whose spread (IQR / median) exceeds ``MAX_SPREAD`` is flagged
untrusted -- rerun before believing it.
"""
from dataclasses import dataclass

import numpy as np

MAX_SPREAD = 0.10  # IQR / median of the per-round ratios above which a row is flagged
MIN_ROUNDS = 3     # fewer rounds than this are never trusted: nothing to judge the spread by


@dataclass(frozen=True)
class Ratio:
    """The median of per-round ratios with their 25th and 75th percentiles."""

    median: float
    low: float
    high: float
    rounds: int

    @classmethod
    def of(cls, numerators, denominators):
        """Ratio of round-paired times: numerators[r] / denominators[r] for every round r."""
        if len(numerators) != len(denominators) or not len(numerators):
            raise ValueError("a ratio needs the same number (>= 1) of rounds on both sides")
        ratios = np.asarray(numerators, dtype=float) / np.asarray(denominators, dtype=float)
        low, median, high = np.percentile(ratios, [25, 50, 75])
        return cls(float(median), float(low), float(high), len(ratios))

    @property
    def spread(self):
        """IQR / median (0 for a single round: nothing to judge it by)."""
        return (self.high - self.low) / self.median if self.median else float("inf")

    @property
    def trusted(self):
        return self.rounds >= MIN_ROUNDS and self.spread <= MAX_SPREAD

    def judge(self, target, at_least=True):
        """"met" or "missed" when the 25th-75th percentiles lie wholly on one side of a target
        the ratio must reach (``at_least``) or stay under; else (or with fewer than MIN_ROUNDS
        rounds) "unsure"."""
        low, high = (self.low, self.high) if at_least else (-self.high, -self.low)
        goal = target if at_least else -target
        if self.rounds < MIN_ROUNDS:
            return "unsure"
        if low >= goal:
            return "met"
        if high < goal:
            return "missed"
        return "unsure"

    def text(self, digits=2):
        """'1.23x (1.20-1.26)', with ' ?' when the spread is too wide to trust."""
        flag = "" if self.trusted else " ?"
        return (f"{self.median:.{digits}f}x ({self.low:.{digits}f}-{self.high:.{digits}f})"
                f"{flag}")


def best_of(series):
    """Round by round, the fastest of several engines' per-round times."""
    return [min(times) for times in zip(*series)]
