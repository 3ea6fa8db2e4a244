"""Output files that appear whole or not at all, under temporary names nobody can plant.

Every output is first written to a new temporary file beside its final path and renamed over it
once complete, so a crash never leaves a half-written file under the final name. The temporary
name is random (``NAME.partial-<random>.EXT``) and the file is created with ``O_CREAT | O_EXCL``,
which also refuses an existing symbolic link: a file or link planted in the output directory
beforehand can neither be overwritten nor redirect the write elsewhere. ``os.replace`` then swaps
the final name itself; a symbolic link there is replaced, not followed.

  write_text(path, text) / write_bytes(path, data)   small files in one go
  with outputs(out, cmp) as (tmp_out, tmp_cmp): ...  files written by name (PyAV, Pillow)

On Google Cloud Storage (``gs://`` paths, :mod:`jaxenhance.cloud`) write-then-rename is not
atomic (a rename there is a copy and a delete), but a single object write is: the object appears
whole once its upload completes, or not at all. So a ``gs://`` file is written as one object:
``write_bytes`` uploads the data directly, and ``outputs`` yields local temporary files (for
the libraries that write by name) and uploads each one only if the block succeeds.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from jaxenhance import cloud

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def _open_new(path: Path) -> tuple[int, Path]:
  """Creates a new file beside ``path``; returns its descriptor and name."""
  for _ in range(8):  # 48 random bits: a clash means someone is guessing names
    # The extension stays last: PyAV and Pillow pick the format from it.
    tmp = path.with_name(f"{path.stem}.partial-{secrets.token_hex(6)}{path.suffix}")
    try:
      return os.open(tmp, _NEW_FILE, 0o666), tmp  # 0o666 & ~umask, like any new file
    except FileExistsError:
      continue
  raise FileExistsError(f"could not create a new temporary file beside {path}")


def create_temp(path: str | os.PathLike) -> Path:
  """Creates a new, empty temporary file beside ``path`` and returns its name.

  For a ``gs://`` path the file is local (in the temporary directory, same extension).
  """
  if cloud.is_cloud(path):
    fd, tmp = tempfile.mkstemp(suffix=cloud.path(path).suffix, prefix="jaxenhance-upload-")
    os.close(fd)
    return Path(tmp)
  fd, tmp = _open_new(Path(path))
  os.close(fd)
  return tmp


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Writes ``data`` to ``path`` through a new temporary file (flushed to disk, then renamed);
  a ``gs://`` path as one object."""
  if cloud.is_cloud(path):
    cloud.path(path).write_bytes(data)
    return
  path = Path(path)
  fd, tmp = _open_new(path)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      tmp.unlink()
    raise


def write_text(path: str | os.PathLike, text: str) -> None:
  write_bytes(path, text.encode())


@contextlib.contextmanager
def outputs(*paths: str | os.PathLike | None) -> Iterator[list[Path | None]]:
  """Yields new temporary files for ``paths`` (None stays None); renames them all into place
  only if the block succeeds (uploads them, for ``gs://`` paths).

  On any exception (KeyboardInterrupt and SystemExit included) the temporary files are deleted
  and the final paths are left untouched.
  """
  temps: list[Path | None] = []
  try:
    for path in paths:
      temps.append(create_temp(path) if path is not None else None)
    yield temps
  except BaseException:
    for tmp in temps:
      if tmp is not None:
        with contextlib.suppress(FileNotFoundError):
          tmp.unlink()
    raise
  try:
    for tmp, path in zip(temps, paths):
      if tmp is not None:
        _put(tmp, path)
  finally:
    for tmp, path in zip(temps, paths):
      if tmp is not None and cloud.is_cloud(path):  # the local copy of an upload
        with contextlib.suppress(FileNotFoundError):
          tmp.unlink()


def _put(tmp: Path, path: str | os.PathLike) -> None:
  """Moves the finished temporary file ``tmp`` to ``path`` (uploads it, for a gs:// path)."""
  if cloud.is_cloud(path):
    write_bytes(path, tmp.read_bytes())  # one object write: whole or not at all
  else:
    os.replace(tmp, path)
