"""The study's results in SQLite (standard library ``sqlite3``): participants, orders, scores.

Tables (``results.sqlite`` in the study folder)::

  meta(key, value)                          the manifest's sha256 the scores belong to
  participants(id, created, seed, agent)    one row per participant
  schedule(participant, position, trial, training)   each participant's order (schedule.py)
  scores(participant, position, trial, score, response_ms, submitted)

Every change is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error),
so a participant is registered with their whole order or not at all, and a score either lands
whole or not. ``(participant, position)`` is the primary key of ``scores`` and a score is taken
only for the next unscored position of the order, checked inside the transaction: a replayed or
duplicated submission, or a second browser window of the same participant, can never add a
second score for a trial; it is refused with a message saying where the participant is.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jaxenhance.study.manifest import StudyError, Trial

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS participants (
  id TEXT PRIMARY KEY, created TEXT NOT NULL, seed INTEGER NOT NULL, agent TEXT);
CREATE TABLE IF NOT EXISTS schedule (
  participant TEXT NOT NULL REFERENCES participants(id), position INTEGER NOT NULL,
  trial TEXT NOT NULL, training INTEGER NOT NULL, PRIMARY KEY (participant, position));
CREATE TABLE IF NOT EXISTS scores (
  participant TEXT NOT NULL, position INTEGER NOT NULL, trial TEXT NOT NULL,
  score REAL NOT NULL CHECK (score >= 0 AND score <= 100), response_ms INTEGER,
  submitted TEXT NOT NULL, PRIMARY KEY (participant, position),
  FOREIGN KEY (participant, position) REFERENCES schedule(participant, position));
"""


class UnknownParticipant(StudyError):
  """No participant has this id (HTTP 404)."""


class Conflict(StudyError):
  """A score for a trial that is not the participant's next one (HTTP 409)."""


class BadScore(StudyError):
  """A malformed submission (HTTP 400)."""


def _now() -> str:
  return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def check_score(score: Any) -> float:
  """``score`` as a float in 0..100; BadScore otherwise (booleans, strings, NaN, out of range)."""
  if isinstance(score, bool) or not isinstance(score, (int, float)):
    raise BadScore(f"score must be a number from 0 to 100, got {score!r}")
  if not math.isfinite(score) or not 0 <= score <= 100:
    raise BadScore(f"score must lie in 0..100, got {score!r}")
  return float(score)


class Database:
  """Results of one study; each method opens its own connection (safe across server threads)."""

  def __init__(self, path: str | Path, manifest_sha256: str):
    self.path = Path(path)
    with self._transaction() as db:
      for statement in filter(str.strip, _SCHEMA.split(";")):
        db.execute(statement)  # not executescript: it would commit the open transaction
      row = db.execute("SELECT value FROM meta WHERE key = 'manifest_sha256'").fetchone()
      if row is None:
        db.execute("INSERT INTO meta VALUES ('manifest_sha256', ?)", (manifest_sha256,))
      elif row[0] != manifest_sha256:
        raise StudyError(
            f"{self.path} holds scores for a different manifest (sha256 {row[0][:16]}..., the "
            f"folder's is {manifest_sha256[:16]}...): the study folder changed after scores were "
            "collected; restore its manifest.json, or prepare a new study folder")

  @contextlib.contextmanager
  def _transaction(self) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed when the block ends, rolled back on any exception."""
    db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
    try:
      db.execute("PRAGMA foreign_keys = ON")
      db.execute("PRAGMA busy_timeout = 30000")
      db.execute("BEGIN IMMEDIATE")  # take the write lock now: check-then-insert is atomic
      try:
        yield db
      except BaseException:
        db.execute("ROLLBACK")
        raise
      db.execute("COMMIT")
    finally:
      db.close()

  def register(self, order: Sequence[Trial], seed: int, agent: str | None = None) -> str:
    """Registers a participant with their trial order (one transaction); returns their id."""
    participant = f"p{secrets.token_hex(6)}"
    with self._transaction() as db:
      db.execute("INSERT INTO participants VALUES (?, ?, ?, ?)",
                 (participant, _now(), seed, (agent or "")[:300]))
      db.executemany("INSERT INTO schedule VALUES (?, ?, ?, ?)",
                     [(participant, i, t.id, int(t.training)) for i, t in enumerate(order)])
    return participant

  def progress(self, participant: str) -> tuple[int, list[tuple[str, bool]]]:
    """``(next position, [(trial id, training)] in order)`` of ``participant``."""
    with self._transaction() as db:
      return self._progress(db, participant)

  @staticmethod
  def _progress(db: sqlite3.Connection, participant: str) -> tuple[int, list[tuple[str, bool]]]:
    if not isinstance(participant, str) or not participant:
      raise UnknownParticipant("no participant id given")
    if db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone() is None:
      raise UnknownParticipant(f"participant {participant[:40]!r} does not exist in this study")
    order = [(t, bool(tr)) for t, tr in db.execute(
        "SELECT trial, training FROM schedule WHERE participant = ? ORDER BY position",
        (participant,))]
    done = db.execute("SELECT COUNT(*) FROM scores WHERE participant = ?",
                      (participant,)).fetchone()[0]
    return done, order

  def record(self, participant: str, position: Any, trial: Any, score: Any,
             response_ms: Any = None) -> int:
    """Stores one score for ``participant``'s next trial; returns the new next position.

    Raises:
      UnknownParticipant: no such participant.
      BadScore: score not a number in 0..100, or a malformed position, trial or time.
      Conflict: ``position`` is not the next unscored one (a replay, a duplicate, another
        window), or ``trial`` is not the trial at that position.
    """
    with self._transaction() as db:
      done, order = self._progress(db, participant)  # an unknown participant is refused first
      value = check_score(score)
      if isinstance(position, bool) or not isinstance(position, int):
        raise BadScore(f"position must be an integer, got {position!r}")
      if response_ms is not None and (isinstance(response_ms, bool)
                                      or not isinstance(response_ms, (int, float))
                                      or not math.isfinite(response_ms) or response_ms < 0):
        raise BadScore(f"response_ms must be a non-negative number, got {response_ms!r}")
      where = f"{done} of {len(order)} trials are scored"
      if position < done:
        raise Conflict(f"that trial was already scored (a repeated submission or another "
                       f"window): {where}")
      if position >= len(order):
        raise Conflict(f"there is no trial at position {position}: {where}")
      if position > done:
        raise Conflict(f"trials are scored in order and position {position} is ahead: {where}")
      if trial != order[position][0]:
        raise Conflict(f"the trial at position {position} is not {str(trial)[:40]!r}: {where}; "
                       "reload the page")
      db.execute("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                 (participant, position, trial, value,
                  None if response_ms is None else int(response_ms), _now()))
    return done + 1

  def rows(self) -> list[dict[str, Any]]:
    """Every score with its participant, position, trial and training flag."""
    return self._read(
        "SELECT s.participant, s.position, s.trial, s.score, s.response_ms, s.submitted, "
        "k.training FROM scores s JOIN schedule k USING (participant, position) "
        "ORDER BY s.participant, s.position")

  def participants(self) -> list[dict[str, Any]]:
    """Each participant with the number of trials scored and scheduled."""
    return self._read(
        "SELECT p.id, p.created, "
        "(SELECT COUNT(*) FROM scores s WHERE s.participant = p.id) AS scored, "
        "(SELECT COUNT(*) FROM schedule k WHERE k.participant = p.id) AS scheduled "
        "FROM participants p ORDER BY p.created, p.id")

  def _read(self, query: str) -> list[dict[str, Any]]:
    """The rows of a read-only query, as dicts (a read-only connection: analysis never writes)."""
    db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
      db.row_factory = sqlite3.Row
      return [dict(r) for r in db.execute(query)]
    finally:
      db.close()
