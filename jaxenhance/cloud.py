"""Paths on Google Cloud Storage (``gs://bucket/...``) as well as local ones.

``pathlib.Path("gs://bucket/run")`` collapses the scheme into ``gs:/bucket/run``, a local folder.
Every path a user gives (work directory, records, exports, evaluation outputs, caches) goes
through :func:`path` instead: an ``etils.epath.Path`` for a ``gs://`` URI, and the same
``pathlib.Path`` as before for anything else, so local paths behave exactly as they did. Both
have the pathlib methods the project uses (``/``, ``name``, ``parent``, ``exists``,
``is_file``, ``read_text``, ``write_bytes``, ``open``, ``iterdir``, ``rename``).

Which GCS client runs: epath uses TensorFlow's ``tf.io.gfile`` when TensorFlow is installed (a
dependency, so by default), else fsspec's ``gcsfs`` (the ``gcs`` extra); ``EPATH_USE_TF=false``
picks gcsfs. Orbax writes array data through TensorStore's own GCS client, ArrayRecord reads
shards through google-cloud-cpp, and TensorBoard summaries go through ``tf.io.gfile``. All of
them use the machine's application-default credentials (a TPU VM's service account,
``gcloud auth application-default login``, or ``GOOGLE_APPLICATION_CREDENTIALS``).

GCS differs from a disk in three ways that matter here:
  * no directories: an object's name holds its "folders", so :func:`makedirs` does nothing
    there (gcsfs's own makedirs would even create a missing *bucket*);
  * no atomic rename, but a single object write is atomic: an object appears whole once its
    upload completes, or not at all (``atomic_write`` writes each file as one object);
  * no advisory locks: ``checkpointing.WorkdirLock`` locks local work directories only.

:func:`check_bucket` turns a missing bucket, missing credentials or no network into one
``CloudPathError`` line before anything is written, within ``JAXENHANCE_GCS_TIMEOUT`` seconds
(default 30): the clients retry a dead connection for minutes on their own.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import threading

from etils import epath

from jaxenhance import errors

SCHEME = "gs://"
AnyPath = pathlib.Path | epath.Path

_REACHED: set[str] = set()  # buckets that answered once: checked once per process


class CloudPathError(errors.JaxenhanceError, RuntimeError):
  """A ``gs://`` path cannot be used (no bucket, no credentials, no network)."""


def is_cloud(p: str | os.PathLike) -> bool:
  return os.fspath(p).startswith(SCHEME)


def path(p: str | os.PathLike) -> AnyPath:
  """``etils.epath.Path`` for a ``gs://`` URI, else ``pathlib.Path``."""
  return epath.Path(os.fspath(p)) if is_cloud(p) else pathlib.Path(p)


def makedirs(p: str | os.PathLike) -> AnyPath:
  """Creates the local directory ``p`` (and parents); nothing to create on GCS."""
  p = path(p)
  if not is_cloud(p):
    p.mkdir(parents=True, exist_ok=True)
  return p


def rmtree(p: str | os.PathLike) -> None:
  """Deletes the directory ``p`` (on GCS: every object under the prefix)."""
  p = path(p)
  if is_cloud(p):
    p.rmtree()
  else:
    shutil.rmtree(p)


def rename(src: str | os.PathLike, dst: str | os.PathLike) -> None:
  """Renames a file or directory (on GCS a copy and delete per object, not atomic)."""
  if is_cloud(src):
    path(src).rename(path(dst))
  else:
    os.rename(src, dst)


def upload(local: str | os.PathLike, dst: str | os.PathLike) -> None:
  """Copies the local file ``local`` to ``dst`` (one object on GCS)."""
  with open(local, "rb") as src, path(dst).open("wb") as out:
    shutil.copyfileobj(src, out, 1 << 22)


def bucket_of(p: str | os.PathLike) -> str:
  """``gs://bucket`` of a ``gs://bucket/...`` path."""
  return SCHEME + os.fspath(p)[len(SCHEME):].split("/", 1)[0]


def check_bucket(p: str | os.PathLike, what: str) -> None:
  """Raises ``CloudPathError`` unless the bucket of the ``gs://`` path ``p`` exists and answers.

  Local paths pass untouched. ``what`` names the setting in the message (``--workdir``).
  """
  if not is_cloud(p):
    return
  bucket = bucket_of(p)
  if bucket in _REACHED:
    return
  if bucket == SCHEME:
    raise CloudPathError(f"{what} {p} names no bucket; write gs://BUCKET/folder")
  timeout = float(os.environ.get("JAXENHANCE_GCS_TIMEOUT", "30"))
  outcome = _probe(bucket, timeout)
  hint = ("check the network and the credentials (gcloud auth application-default login, or "
          "GOOGLE_APPLICATION_CREDENTIALS=key.json)")
  if outcome is None:
    raise CloudPathError(
        f"{what} {p}: no answer from Google Cloud Storage about {bucket} within {timeout:g} s; "
        f"{hint}; JAXENHANCE_GCS_TIMEOUT sets the wait")
  if isinstance(outcome, BaseException):
    reason = (str(outcome).strip().splitlines() or [""])[0][:200]
    raise CloudPathError(f"{what} {p}: cannot use {bucket} ({type(outcome).__name__}: "
                         f"{reason}); {hint}")
  if not outcome:
    raise CloudPathError(
        f"{what} {p}: bucket {bucket} does not exist (or these credentials cannot see it); "
        f"create it (gcloud storage buckets create {bucket}) or fix the path")
  _REACHED.add(bucket)


def _probe(bucket: str, timeout: float) -> bool | BaseException | None:
  """Whether ``bucket`` exists, the error that said why not, or None after ``timeout`` s.

  In a daemon thread: a client retrying a dead connection is left behind, not waited for.
  """
  outcome: list = []

  def probe():
    try:
      outcome.append(epath.Path(bucket).exists())
    except Exception as exc:  # noqa: BLE001 - whatever the client raises is the reason
      outcome.append(exc)

  thread = threading.Thread(target=probe, name=f"probe {bucket}", daemon=True)
  thread.start()
  thread.join(timeout)
  return outcome[0] if outcome else None
