"""Each participant's trial order: training first, then the test trials shuffled so that no
condition comes twice in a row.

The order is drawn once, when a participant is registered, from a seed stored with them
(``database.py``), so a resumed session continues the same order. The draw is a randomised
greedy walk: at each step it picks a condition other than the last one, with probability
proportional to the trials it has left, among those choices that leave the rest arrangeable; a
multiset of conditions can be arranged without repeats exactly when no condition holds more than
half of it (rounded up, and rounded down for the condition just shown), so the walk never gets
stuck. Within a condition it prefers an item other than the last one shown.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Sequence

from jaxenhance.study.manifest import StudyError, Trial


def _arrangeable(counts: dict[str, int], last: str | None) -> bool:
  n = sum(counts.values())
  return all(c <= (n // 2 if k == last else (n + 1) // 2) for k, c in counts.items())


def check_arrangeable(trials: Sequence[Trial]) -> None:
  """Raises StudyError when the test trials cannot avoid repeating a condition."""
  counts = collections.Counter(t.condition for t in trials)
  if not _arrangeable(dict(counts), None):
    raise StudyError(f"trials per condition {dict(counts)}: one condition holds more than half of "
                     "the trials, so it would have to come twice in a row; add a model (or "
                     "fewer rungs)")


def order(trials: Sequence[Trial], seed: int) -> list[Trial]:
  """Training trials in manifest order, then the test trials in a random order (``seed``) in
  which no condition follows itself (nor the last training trial's)."""
  rng = random.Random(seed)
  training = [t for t in trials if t.training]
  pools: dict[str, list[Trial]] = collections.defaultdict(list)
  for t in trials:
    if not t.training:
      pools[t.condition].append(t)
  for pool in pools.values():
    rng.shuffle(pool)
  check_arrangeable([t for t in trials if not t.training])
  last = training[-1].condition if training else None
  if not _arrangeable({k: len(v) for k, v in pools.items()}, last):
    last = None  # only the join with training would repeat; the test trials still alternate
  out, last_item = list(training), training[-1].item if training else None
  while any(pools.values()):
    counts = {k: len(v) for k, v in pools.items() if v}
    choices = []
    for k, count in counts.items():
      if k == last:
        continue
      rest = dict(counts, **{k: count - 1})
      if _arrangeable(rest, k):
        choices.append(k)
    condition = rng.choices(choices, weights=[counts[k] for k in choices])[0]
    pool = pools[condition]
    pick = next((i for i, t in enumerate(pool) if t.item != last_item), 0)
    trial = pool.pop(pick)
    out.append(trial)
    last, last_item = condition, trial.item
  return out
