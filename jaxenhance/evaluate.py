r"""Held-out evaluation of a generator: compressed input vs enhanced output, against the original.

  python -m jaxenhance.evaluate --config=configs/quickstart.py --checkpoint=workdir/quickstart
  python -m jaxenhance.evaluate --config=… --checkpoint=DIR/export --clips=sample:carphone

``--checkpoint`` is an export directory (``generator.msgpack`` + ``generator.json``) or a work
directory holding ``export/``. The evaluation set is the ``test`` split of the patch records
(``config.data.data_dir`` or ``<workdir>/records``; centre crops of ``data.crop_size``), or with
``--clips`` whole frames of the named sources, encoded here at the config's ladder.

Every table has the compressed-input row next to the enhanced row, overall and per group (per
codec rung and per source clip). Metrics (``eval.metrics``; all by default):
  psnr, psnr_y, ssim, lpips  full reference, mean over images (:mod:`jaxenhance.metrics.image`,
                             :mod:`jaxenhance.metrics.lpips`)
  fid, kid                   against the original images' FID-Inception pool3 features
                             (resize ``eval.fid_resize``); KID's std is over its subsets
  niqe                       no reference; needs images of at least two 96×96 blocks, so it is
                             reported as not computed on small patches (use ``--clips``)
  bits_per_pixel             the codec's cost, the same for both rows (enhancement is free)
The enhanced output is rounded to 8 bits before any metric, as it is when written to a file (and
as basicsr evaluates): a generator whose correction stays below half a grey level (e.g. after a
few training steps from the zero-initialised output conv) scores exactly like its input.
FID from fewer samples than feature dims (2048) is biased upwards and noisy: the tables give the
sample count next to it and the notes say so; compare FIDs only at equal counts.

Outputs (``<workdir>/eval/`` for ``run_stage``, ``--output`` for the CLI): ``results.json``,
``results.md``, ``metrics.png`` (per-rung bars), ``rate_quality.png`` (metric vs bits per pixel),
``examples.png`` (compressed | enhanced | original crops). Checkpoints, records and outputs may
be ``gs://`` paths (:mod:`jaxenhance.cloud`).

The evaluation core (batches, ``Evaluator``) lives in :mod:`jaxenhance.evaluation`, which the
trainer also uses for its periodic evaluation; its names stay importable from here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from absl import app, flags

from jaxenhance import atomic_write, cloud, config_loader, errors, export
from jaxenhance.evaluation import (
  LOWER_IS_BETTER,
  METRICS,
  ROWS,
  EvaluationError,
  Evaluator,
  clip_batches,
  encode_clips,
)

_FLAGS: dict[str, Any] = {}


# ---------------------------------------------------------------------------------------------
# Tables, plots, files.
# ---------------------------------------------------------------------------------------------

_COLUMNS = (("bits_per_pixel", "bpp", 4), ("psnr", "PSNR", 2), ("psnr_y", "PSNR-Y", 2),
            ("ssim", "SSIM", 4), ("lpips", "LPIPS", 4), ("fid", "FID", 2), ("kid", "KID", 4),
            ("niqe", "NIQE", 3))


def format_value(value: Any, digits: int) -> str:
  """A table cell: ``digits`` decimals, or n/a for missing and non-finite values."""
  if value is None or (isinstance(value, float) and not np.isfinite(value)):
    return "n/a"
  return f"{value:.{digits}f}"


def markdown_table(rows: dict[str, dict[str, float]], first: str = "") -> str:
  """``{row name: {metric: value}}`` -> a Markdown table with the columns present."""
  present = [c for c in _COLUMNS if any(c[0] in r for r in rows.values())]
  head = [first or "row", "n"] + [label + (" ↓" if LOWER_IS_BETTER[k] else " ↑")
                                  for k, label, _ in present]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for name, r in rows.items():
    cells = [name, str(int(r.get("count", 0)))]
    for key, _, digits in present:
      cell = format_value(r.get(key), digits)
      if key == "kid" and "kid_std" in r:
        cell += f" ± {r['kid_std']:.4f}"
      cells.append(cell)
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def results_markdown(results: dict[str, Any], title: str = "Evaluation") -> str:
  parts = [f"# {title}", ""]
  for key in ("checkpoint", "data", "split"):
    if key in results:
      parts.append(f"- {key}: `{results[key]}`")
  parts += [f"- images: {results['count']} of size(s) {results['sizes']}", "",
            "## Overall", "", markdown_table(results["overall"])]
  for kind, groups in results["groups"].items():
    parts += ["", f"## Per {kind}", ""]
    rows = {}
    for name, g in groups.items():
      for row in ROWS:
        rows[f"{name} · {row}"] = g[row]
    parts.append(markdown_table(rows, kind))
  if results.get("notes"):
    parts += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
  return "\n".join(parts) + "\n"


def write_plots(results: dict[str, Any], out_dir: str | os.PathLike) -> list[str]:
  """``metrics.png``, ``rate_quality.png`` and ``examples.png``; returns the file names."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  out_dir = cloud.path(out_dir)
  written = []
  rungs = results["groups"]["rung"]
  names = list(rungs)
  shown = [(k, label) for k, label, _ in _COLUMNS[1:]
           if any(np.isfinite(rungs[n][r].get(k, np.nan)) for n in names for r in ROWS)]
  if shown:
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.4), squeeze=False)
    x = np.arange(len(names))
    for ax, (key, label) in zip(axes[0], shown):
      for i, row in enumerate(ROWS):
        ax.bar(x + (i - 0.5) * 0.4, [rungs[n][row].get(key, np.nan) for n in names], 0.4,
               label=row)
      ax.set_xticks(x, names, rotation=45, ha="right", fontsize=7)
      ax.set_title(label + (" (lower better)" if LOWER_IS_BETTER[key] else " (higher better)"),
                   fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, out_dir / "metrics.png")
    plt.close(fig)
    written.append("metrics.png")

    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 3.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], shown):
      for row, marker in zip(ROWS, ("o", "s")):
        xs = [rungs[n][row]["bits_per_pixel"] for n in names]
        ax.scatter(xs, [rungs[n][row].get(key, np.nan) for n in names], marker=marker, label=row)
      ax.set_xlabel("bits per pixel", fontsize=8)
      ax.set_title(label, fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    _save_figure(fig, out_dir / "rate_quality.png")
    plt.close(fig)
    written.append("rate_quality.png")

  ex = results.get("examples") or {}
  if ex.get("enhanced"):
    k = min(len(ex["compressed"]), len(ex["enhanced"]), len(ex["original"]))
    strips = [np.concatenate([ex["compressed"][i], ex["enhanced"][i], ex["original"][i]], axis=1)
              for i in range(k)]
    fig, axes = plt.subplots(k, 1, figsize=(6, 2.1 * k), squeeze=False)
    for ax, strip in zip(axes[:, 0], strips):
      ax.imshow(strip, interpolation="nearest")
      ax.axis("off")
    axes[0, 0].set_title("compressed | enhanced | original", fontsize=9)
    fig.tight_layout()
    _save_figure(fig, out_dir / "examples.png")
    plt.close(fig)
    written.append("examples.png")
  return written


def _save_figure(fig, path: cloud.AnyPath) -> None:
  with atomic_write.outputs(path) as (tmp,):  # a local file, uploaded for a gs:// path
    fig.savefig(tmp, dpi=110, format="png")


def write_results(results: dict[str, Any], out_dir: str | os.PathLike,
                  title: str = "Evaluation") -> dict[str, str]:
  """Writes ``results.json``, ``results.md`` and the plots into ``out_dir`` (atomically each)."""
  cloud.check_bucket(out_dir, "evaluation output")
  out_dir = cloud.makedirs(out_dir)
  serialisable = {k: v for k, v in results.items() if k != "examples"}
  files = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
  for path, text in ((files["json"], json.dumps(serialisable, indent=1, default=_json_default)),
                     (files["markdown"], results_markdown(results, title))):
    atomic_write.write_text(path, text)
  plots = write_plots(results, out_dir)
  return {**{k: str(v) for k, v in files.items()}, "plots": ", ".join(plots)}


def _json_default(value: Any) -> Any:
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  return str(value)


# ---------------------------------------------------------------------------------------------
# Entry points.
# ---------------------------------------------------------------------------------------------

def evaluate_checkpoint(config: Any, checkpoint: str | os.PathLike, *,
                        data_dir: str | os.PathLike | None = None, split: str = "test",
                        clips: Sequence[str] | None = None, max_examples: int | None = None,
                        metrics: Sequence[str] | None = None) -> dict[str, Any]:
  """Loads an export and evaluates it on the records (or on ``clips``); returns the results."""
  from jaxenhance.data import layout

  export_dir, workdir = export.resolve(checkpoint)
  generator, params, meta = export.load_generator(export_dir)
  t = int(meta["generator"].get("temporal_window", 1))
  if clips:
    batch = int(config.get("eval", {}).get("batch_size", 8) or 8)
    encoded = encode_clips(config, clips, max_frames=max_examples or None,
                           quantisers=generator.reads_qp)
    evaluator = Evaluator(config, batches=clip_batches(encoded, t, batch), metrics=metrics)
    data = "clips " + ", ".join(clips)
  else:
    if data_dir is None:
      data_dir = layout.data_dir(config, workdir or export_dir.parent)
    evaluator = Evaluator(config, data_dir, split=split, metrics=metrics,
                          max_examples=max_examples)
    data = str(data_dir)
  if int(config.data.temporal_window) != t:
    raise EvaluationError(f"the checkpoint's generator takes {t} frames but the config's records "
                          f"hold {config.data.temporal_window}: use the training config")
  results = evaluator.evaluate(generator, params)
  results.update(checkpoint=str(export_dir), data=data, split=split if not clips else "clips",
                 step=meta.get("step"))
  return results


def evaluate_suite(checkpoint: str | os.PathLike, suite: str = "full",
                   rungs: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs an export (or ``"shipped"``) over the held-out suite (:mod:`jaxenhance.suite`).

  Args:
    checkpoint: export directory, work directory holding ``export/``, or ``"shipped"``.
    suite: ``full`` (every item), ``quick`` (``items.QUICK_ITEMS``) or comma-separated item ids.
    rungs: rung tags such as ``h264_qp37`` (default: all).
  """
  from jaxenhance.suite import items as suite_items
  from jaxenhance.suite import runner

  generator, params, meta = export.load_generator(checkpoint)
  ids = {"full": None, "quick": list(suite_items.QUICK_ITEMS)}.get(
      suite, [s for s in str(suite).split(",") if s])
  results = runner.run(generator, params, runner.SuiteRun(item_ids=ids, rung_tags=rungs))
  results.update(checkpoint=str(checkpoint), step=meta.get("step"),
                 generator=meta.get("generator"))
  return results


def summary_of(results: dict[str, Any]) -> dict[str, Any]:
  """The overall rows, rounded, for printing and the main job's summary."""
  return {"count": results["count"],
          **{row: {k: round(float(v), 5) for k, v in values.items()}
             for row, values in results["overall"].items()},
          "notes": results["notes"]}


def run_stage(config: Any, workdir: str | os.PathLike) -> dict[str, Any]:
  """The main job's ``evaluate`` stage: ``<workdir>/export`` on the test records."""
  workdir = cloud.path(workdir)
  results = evaluate_checkpoint(config, workdir)
  files = write_results(results, workdir / "eval", title="Held-out evaluation")
  summary = summary_of(results)
  print(markdown_table(results["overall"]), flush=True)
  return {**summary, "files": files}


def run_suite_stage(config: Any, workdir: str | os.PathLike) -> dict[str, Any]:
  """The main job's ``suite`` stage: ``<workdir>/export`` on ``eval.suite`` at
  ``eval.suite_rungs``; writes ``<workdir>/suite/`` and returns the per-rung deltas and the
  gate's verdict. Skipped (saying how to fix it) when the suite's packages are not fetched."""
  from jaxenhance.suite import gate, report
  from jaxenhance.suite.runner import SuiteError

  ev = config.get("eval", {})
  suite = ev.get("suite", "")
  if not suite:
    return {"skipped": "eval.suite is empty"}
  workdir = cloud.path(workdir)
  try:
    results = evaluate_suite(workdir, suite, list(ev.get("suite_rungs", ())) or None)
  except SuiteError as exc:
    if "jaxenhance.suite fetch" not in str(exc):
      raise
    return {"skipped": str(exc)}
  files = report.write(results, workdir / "suite")
  failed = [c.name for c in gate.checks(results) if not c.passed]
  return {"rungs": {tag: {"delta_psnr": round(r["delta_psnr"], 3),
                          "delta_lpips": round(r["delta_lpips"], 4),
                          "added_shift": [round(v, 2) for v in gate.added_shift(r)]}
                    for tag, r in results["rungs"].items()},
          "identity_psnr": round(results["identity"]["mean_psnr"], 2),
          "gate": "pass" if not failed else f"fail: {', '.join(failed)}", "files": files}


def _define_flags() -> None:
  """Flags exist only when this module is the program (``jaxenhance.run`` imports it)."""
  from ml_collections import config_flags

  _FLAGS.update(
      config=config_flags.DEFINE_config_file(
          "config", str(config_loader.config_path("quickstart")), "Run config."),
      checkpoint=flags.DEFINE_string(
          "checkpoint", "shipped", "'shipped' (the model inside the package), an export "
          "directory or a work directory holding export/."),
      data_dir=flags.DEFINE_string("data_dir", None, "Records (default: the config's or "
                                   "<workdir>/records)."),
      split=flags.DEFINE_string("split", "test", "Records split."),
      clips=flags.DEFINE_list("clips", None, "Evaluate whole frames of these sources at the "
                              "config's ladder instead of records (e.g. sample:carphone)."),
      max_examples=flags.DEFINE_integer("max_examples", None, "Records (or frames per clip) "
                                        "to evaluate at most."),
      metrics=flags.DEFINE_list("metrics", None, f"Subset of {list(METRICS)}."),
      output=flags.DEFINE_string("output", None, "Output directory (default: <workdir>/eval or "
                                 "<export>/eval)."),
      suite=flags.DEFINE_string("suite", None, "Evaluate on the held-out suite of whole frames "
                                "instead: 'full', 'quick' or comma-separated item ids (python -m "
                                "jaxenhance.suite list); writes suite.md/.json/.png."),
      rungs=flags.DEFINE_list("rungs", None, "Suite rungs (e.g. h264_qp37,jpeg_qf10); default "
                              "all nine."),
  )


def main(argv: list[str]) -> None:
  del argv
  if _FLAGS["suite"].value:
    _main_suite()
    return
  config = _FLAGS["config"].value
  try:
    results = evaluate_checkpoint(
        config, _FLAGS["checkpoint"].value, data_dir=_FLAGS["data_dir"].value,
        split=_FLAGS["split"].value, clips=_FLAGS["clips"].value,
        max_examples=_FLAGS["max_examples"].value, metrics=_FLAGS["metrics"].value)
    export_dir, workdir = export.resolve(_FLAGS["checkpoint"].value)
    out = cloud.path(_FLAGS["output"].value or (workdir or export_dir) / "eval")
    files = write_results(results, out)
  except errors.USER_ERRORS as exc:
    # jaxenhance's own errors (bad sources, records, checkpoints) and OS errors (a full disk)
    # say what to do: print them without a traceback. Anything else is a bug and keeps it.
    errors.exit_on_error("evaluate", exc)
  print(results_markdown(results))
  print(json.dumps({"files": files, "seconds": results["seconds"]}, indent=1))


def _main_suite() -> None:
  from jaxenhance.suite import gate, report

  checkpoint = _FLAGS["checkpoint"].value
  try:
    results = evaluate_suite(checkpoint, _FLAGS["suite"].value, _FLAGS["rungs"].value)
    out = _FLAGS["output"].value or (Path("suite") if checkpoint == "shipped" else
                                     export.resolve(checkpoint)[0] / "suite")
    files = report.write(results, out)
  except errors.USER_ERRORS as exc:
    errors.exit_on_error("evaluate", exc)
  print(report.markdown(results))
  print(json.dumps({"files": files, "seconds": results["seconds"],
                    "gate": "pass" if gate.passed(results) else "fail"}, indent=1))


def cli() -> None:
  """The program (``jaxenhance evaluate`` or ``python -m jaxenhance.evaluate``)."""
  sys.argv = config_loader.expand_config_flags(sys.argv)
  _define_flags()
  app.run(main)


if __name__ == "__main__":
  cli()
