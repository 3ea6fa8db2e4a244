"""The one root of jaxenhance's errors.

Every error the project raises for bad input or bad state subclasses ``JaxenhanceError``; its
message is one line that names what is wrong and what to do. The programs (``jaxenhance
<command>``) print such an error as that one line and exit with status 2; any other exception is
a bug and keeps its traceback.

Each module keeps its own subclass (``CodecError``, ``AssetError``, …) next to the code that
raises it, so a caller can catch one module's errors; the subclasses also keep the built-in base
they had (``ValueError``, ``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import sys


class JaxenhanceError(Exception):
  """Bad input or state; the message says what to do."""


class AssetError(JaxenhanceError, RuntimeError):
  """An asset (weights, footage, packages) is missing, corrupt or unsafe; the message says how to
  fix it. Here rather than in ``assets.py`` so the readers it uses (``torch_zip``) can raise it
  without importing the registry."""


# What a program may print as one line without a traceback: the project's own errors, and the
# operating system's (a full disk, permissions), whose messages name the file.
USER_ERRORS = (JaxenhanceError, OSError)


def report(program: str, error: BaseException, where: str = "") -> int:
  """Prints a user error as one line on stderr (``jaxenhance PROGRAM: error [in WHERE]:
  message``); returns the exit status for it, 2."""
  message = " ".join(str(error).split())
  print(f"jaxenhance {program}: error{f' in {where}' if where else ''}: {message}",
        file=sys.stderr, flush=True)
  return 2


def exit_on_error(program: str, error: BaseException, where: str = "") -> None:
  """What a program does with a user error: ``report`` it, exit with status 2."""
  sys.exit(report(program, error, where))
