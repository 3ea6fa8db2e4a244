"""``python -m jaxenhance.study prepare|serve|analyze``: the subjective study's three programs.

  prepare OUT [--items ID,...] [--rungs TAG,...] [--model NAME=CHECKPOINT ...] [--crop 256]
          [--kind image|clip] [--presentation sequence|side-by-side] [--seconds 3] ...
  serve   DIR [--host 127.0.0.1] [--port 8000]
  analyze DIR [--output DIR/analysis] [--no-screening] [--include-incomplete]

Errors (a missing suite item, a bad folder, a stimulus failing its checksum, ...) print one line
and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jaxenhance import errors
from jaxenhance.study import stimuli
from jaxenhance.study.manifest import StudyError

DEFAULT_ITEMS = ("nature/LadyBird", "plasma/Grey", "plasma/DarkestHour", "ukui/rhythm")


def _csv(text: str) -> tuple[str, ...]:
  return tuple(x.strip() for x in text.split(",") if x.strip())


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m jaxenhance.study",
                                   description="Subjective quality study (DSIS) in the browser.")
  commands = parser.add_subparsers(dest="command", required=True)

  prepare = commands.add_parser("prepare", help="cut stimuli from suite items into a study folder")
  prepare.add_argument("out", help="the new study folder")
  prepare.add_argument("--items", type=_csv, default=DEFAULT_ITEMS,
                       help="suite item ids (python -m jaxenhance.suite list); default: "
                       + ",".join(DEFAULT_ITEMS))
  prepare.add_argument("--sample-photos", type=_csv, default=None, metavar="NAME,...",
                       help="scikit-image sample photos instead of suite items: a pipeline "
                       "check on a machine without the suite's packages (training data!)")
  prepare.add_argument("--rungs", type=_csv, default=stimuli.DEFAULT_RUNGS,
                       help="suite codec rungs, e.g. h264_qp37,jpeg_qf10 (the default)")
  prepare.add_argument("--model", action="append", default=None, metavar="NAME=CHECKPOINT",
                       help="a model condition: export dir, work dir or 'shipped' (repeatable; "
                       "default shipped=shipped)")
  prepare.add_argument("--crop", type=int, default=256, help="crop side in pixels")
  prepare.add_argument("--kind", choices=["image", "clip"], default="image")
  prepare.add_argument("--clip-frames", type=int, default=50, help="frames per clip (25 fps)")
  prepare.add_argument("--presentation", choices=["sequence", "side-by-side"],
                       default="sequence")
  prepare.add_argument("--seconds", type=float, default=3.0,
                       help="how long each image is shown")
  prepare.add_argument("--gap", type=float, default=1.0, help="grey pause between A and B (s)")
  prepare.add_argument("--training", type=int, default=3, help="practice trials (0-3)")
  prepare.add_argument("--seed", type=int, default=0)
  prepare.add_argument("--title", default="Image quality study")

  serve = commands.add_parser("serve", help="run the study's web page")
  serve.add_argument("dir")
  serve.add_argument("--host", default="127.0.0.1",
                     help="address to bind (default 127.0.0.1: this machine only)")
  serve.add_argument("--port", type=int, default=8000)

  analyze = commands.add_parser("analyze", help="MOS, confidence intervals, screening, plot")
  analyze.add_argument("dir")
  analyze.add_argument("--output", default=None, help="default: DIR/analysis")
  analyze.add_argument("--no-screening", action="store_true",
                       help="keep observers that BT.500 screening would reject")
  analyze.add_argument("--include-incomplete", action="store_true",
                       help="also use participants who have not finished")
  return parser


def _prepare(args: argparse.Namespace) -> None:
  settings = stimuli.Settings(
      rungs=args.rungs, crop=args.crop, kind=args.kind, clip_frames=args.clip_frames,
      presentation=args.presentation, reference_seconds=args.seconds, gap_seconds=args.gap,
      test_seconds=args.seconds, training=args.training, seed=args.seed, title=args.title)
  settings.check()  # everything that is quick to check comes before the slow part
  stimuli.check_new_folder(args.out)
  frames = args.clip_frames if args.kind == "clip" else 6
  checkpoints = {}
  for spec in args.model or ["shipped=shipped"]:
    name, sep, checkpoint = spec.partition("=")
    if not sep or not name or not checkpoint:
      raise StudyError(f"--model {spec!r}: write NAME=CHECKPOINT, e.g. shipped=shipped")
    if name in checkpoints:
      raise StudyError(f"--model {name} is given twice")
    checkpoints[name] = checkpoint
  if args.sample_photos:
    sources = stimuli.sample_sources(args.sample_photos, frames)
  else:
    sources = stimuli.suite_sources(args.items, frames)
  models = {name: stimuli.checkpoint_model(c) for name, c in checkpoints.items()}
  manifest = stimuli.prepare(args.out, sources, models, settings, checkpoints)
  print(f"{args.out}: {len(manifest.test_trials)} test + {len(manifest.training_trials)} "
        f"practice trials, {len(manifest.stimuli)} stimuli; next: python -m jaxenhance.study "
        f"serve {args.out}")


def _analyze(args: argparse.Namespace) -> None:
  from pathlib import Path

  from jaxenhance.study import analysis

  results = analysis.analyze(args.dir, screening=not args.no_screening,
                             include_incomplete=args.include_incomplete)
  paths = analysis.write(results, args.output or Path(args.dir) / "analysis")
  print(analysis.markdown(results))
  print("written: " + ", ".join(str(p) for p in paths.values()))


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  try:
    if args.command == "prepare":
      _prepare(args)
    elif args.command == "serve":
      from jaxenhance.study import webapp

      webapp.serve(args.dir, args.host, args.port)
    else:
      _analyze(args)
  except (errors.JaxenhanceError, OSError) as exc:  # the user's to fix: one line, no traceback
    return errors.report("study", exc)
  return 0


if __name__ == "__main__":
  sys.exit(main())
