r"""The paper's experiment: one generator trained against each critic variant, equal budgets.

  .venv/bin/python benchmarks/critic_comparison.py --out=benchmarks/results/critic_comparison \
      --variants=none,all,lpips,selected,content --seeds=0,1,2

Variants are ``configs/paper.py:<variant>,cpu`` (none / all / lpips / selected VGG-16 layers in
the W-GAN critic, and content-loss only); every run has the same data, steps, batch, n_critic and
learning rates — only the critic's layers (and for ``content`` the adversarial weight) differ.
All runs share one records build (``<out>/records``, via ``config.data.data_dir``) and one
evaluator (the test split's compressed-input metrics and original features are computed once).
The selected layers come from ``--selected_layers`` (explicit, reported as such), else
``--selection_report``, else ``<out>/selection/report.json``, made by ``select_layers`` with the
config's (reduced) probe if missing.

Resumable: each run writes ``<out>/runs/<variant>-s<seed>/result.json`` when trained *and*
evaluated; a rerun skips finished runs, and an interrupted run resumes from its last checkpoint.
The table (``<out>/table.md``, ``table.json``) gives mean ± std over seeds per metric, Δ% of the
mean vs the no-VGG baseline, and the compressed-input and content-only rows; it is rewritten
after every run, so a partial experiment still has a (partial) table.

Protocol: per seed, one generator is first trained on the content loss alone
(``<out>/pretrain-s<seed>``, ``--pretrain_steps``); every variant of that seed then starts from it
(``train.init_generator``) and trains ``--steps`` further steps: adversarial for the critic
variants, content-only for ``content``. So the variants differ only in what the last ``--steps``
steps optimise, exactly as in an adversarial fine-tuning of a pretrained generator.

Budget flags (``--pretrain_steps``, ``--steps``, ``--eval_examples``) override the config's CPU
budget for quick checks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxenhance import evaluate, evaluation, export, train
from jaxenhance.config_loader import load_config
from jaxenhance.data import builder
from jaxenhance.models import critic as critic_lib

METRICS = ("fid", "kid", "lpips", "psnr", "ssim", "niqe")
ORDER = ("content", "none", "all", "lpips", "selected")


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--out", default="benchmarks/results/critic_comparison")
  p.add_argument("--variants", default="none,all,lpips,selected,content")
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--pretrain_steps", type=int, default=None,
                 help="content-only steps shared by every variant of a seed (default: the "
                      "config's train.warmup_steps)")
  p.add_argument("--steps", type=int, default=None,
                 help="steps of each variant after the shared pretraining (default: the "
                      "config's train.steps - train.warmup_steps)")
  p.add_argument("--eval_examples", type=int, default=0, help="test records to use (0: all)")
  p.add_argument("--selected_layers", default="", help="explicit layers for 'selected'")
  p.add_argument("--selection_report", default="", help="layer-selection report.json")
  p.add_argument("--data_dir", default="", help="shared records root (default <out>/records)")
  return p.parse_args(argv)


def selected_layers(args, config, out: Path) -> tuple[str, str]:
  """(layer spec for 'selected', where it came from)."""
  if args.selected_layers:
    critic_lib.resolve_layers(args.selected_layers)  # validates the names
    return args.selected_layers, "explicit list (--selected_layers)"
  report = Path(args.selection_report or out / "selection" / "report.json")
  if not report.is_file():
    from jaxenhance import select_layers
    print(f"no selection report at {report}: running layer selection ...", flush=True)
    select_layers.run_stage(config, out)
    report = out / "selection" / "report.json"
  layers = critic_lib.read_selected_layers(report)
  return ",".join(layers), f"selection report {report}"


def budget_of(args) -> tuple[int, int]:
  """(pretraining steps, steps per variant)."""
  t = load_config("paper.py:none,cpu").train
  pretrain = int(t.warmup_steps) if args.pretrain_steps is None else args.pretrain_steps
  steps = int(t.steps) - int(t.warmup_steps) if args.steps is None else args.steps
  return pretrain, steps


def run_config(variant: str, seed: int, args, data_dir: Path, selected: str,
               init_generator: str = "", pretrain: bool = False):
  """Config of one run: the shared content pretraining, or one variant's fine-tuning."""
  config = load_config(f"paper.py:{'content' if pretrain else variant},cpu")
  config.seed = seed
  # Every seed reads the one records build (made with patch seed 0); the seed varies the
  # initialisation and the order in which the patches are drawn.
  config.data.patch_seed = 0
  config.data.shuffle_seed = seed
  config.data.data_dir = str(data_dir)
  if variant == "selected" and not pretrain:
    config.critic.layers = selected
  pretrain_steps, steps = budget_of(args)
  steps = pretrain_steps if pretrain else steps
  config.train.update(steps=steps, warmup_steps=0, checkpoint_every=max(1, steps // 2),
                      log_every=max(1, min(int(config.train.log_every), steps)),
                      image_summary_every=steps, eval_every=0, init_generator=init_generator)
  return config


def pretrained_generator(seed: int, args, records: Path, out: Path) -> tuple[Path, float]:
  """The seed's content-pretrained generator (trained once, then reused by every variant)."""
  workdir = out / f"pretrain-s{seed}"
  export_dir = workdir / "export"
  done = workdir / "pretrain.json"
  if done.is_file():
    return export_dir, json.loads(done.read_text())["train_seconds"]
  config = run_config("content", seed, args, records, "", pretrain=True)
  print(f"=== seed {seed}: content pretraining, {config.train.steps} steps", flush=True)
  t = time.perf_counter()
  train.train_and_evaluate(config, workdir)
  seconds = round(time.perf_counter() - t, 1)
  done.write_text(json.dumps({"train_seconds": seconds, "steps": int(config.train.steps)}))
  return export_dir, seconds


def summarise(values: list[float]) -> tuple[float, float]:
  arr = np.asarray(values, np.float64)
  return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def build_table(out: Path, compressed: dict | None, layers_note: str, budget: dict) -> str:
  results = {}
  for path in sorted((out / "runs").glob("*/result.json")):
    r = json.loads(path.read_text())
    results.setdefault(r["variant"], []).append(r)
  rows = {}
  for variant in ORDER:
    if variant not in results:
      continue
    runs = results[variant]
    row = {"seeds": [r["seed"] for r in runs], "layers": runs[0]["critic_layers"],
           "train_seconds": summarise([r["train_seconds"] for r in runs])[0]}
    for m in METRICS:
      vals = [r["enhanced"][m] for r in runs if m in r["enhanced"]]
      if vals:
        row[m] = summarise(vals)
    rows[variant] = row
  base = rows.get("none", {})
  head = ["row", "critic layers", "seeds"] + [m.upper() + (" ↓" if evaluate.LOWER_IS_BETTER[m]
                                                          else " ↑") for m in METRICS]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  if compressed:
    cells = ["compressed input", "—", "—"] + [
        evaluate.format_value(compressed.get(m), 4 if m in ("kid", "lpips", "ssim") else 2)
        for m in METRICS]
    lines.append("| " + " | ".join(cells) + " |")
  for variant, row in rows.items():
    cells = [variant, ",".join(row["layers"]) or "(RGB only)", str(len(row["seeds"]))]
    for m in METRICS:
      if m not in row:
        cells.append("n/a")
        continue
      mean, std = row[m]
      digits = 4 if m in ("kid", "lpips", "ssim") else 2
      cell = f"{mean:.{digits}f} ± {std:.{digits}f}"
      if variant != "none" and m in base and base[m][0]:
        cell += f" ({100 * (mean - base[m][0]) / abs(base[m][0]):+.1f}%)"
      cells.append(cell)
    lines.append("| " + " | ".join(cells) + " |")
  notes = ["Δ% is the change of the mean vs the no-VGG ('none') critic; ↓ lower is better.",
           f"'selected' layers: {layers_note}.",
           "Budget per run: " + ", ".join(f"{k}={v}" for k, v in budget.items()) + "."]
  md = "\n".join(["# Critic comparison (held-out test records)", "", *lines, "",
                  *[f"- {n}" for n in notes]]) + "\n"
  (out / "table.md").write_text(md)
  (out / "table.json").write_text(json.dumps({"rows": rows, "compressed": compressed,
                                              "notes": notes}, indent=1))
  plot_table(out)
  return md


def plot_table(out: Path) -> Path | None:
  """``<out>/comparison.png``: per metric, mean ± std over seeds per variant; the dashed line is
  the compressed input."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  table = json.loads((out / "table.json").read_text())
  rows, compressed = table["rows"], table.get("compressed") or {}
  variants = [v for v in ORDER if v in rows]
  metrics = [m for m in METRICS if any(m in rows[v] for v in variants)]
  if not variants or not metrics:
    return None
  fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.4))
  for ax, metric in zip(np.atleast_1d(axes), metrics):
    have = [v for v in variants if metric in rows[v]]
    means = [rows[v][metric][0] for v in have]
    stds = [rows[v][metric][1] for v in have]
    ax.bar(range(len(have)), means, yerr=stds, capsize=3,
           color=["0.6" if v == "content" else "C0" for v in have])
    if metric in compressed:
      ax.axhline(compressed[metric], color="C3", linestyle="--", label="compressed input")
    values = means + ([compressed[metric]] if metric in compressed else [])
    span = max(values) - min(values) or abs(max(values)) * 0.01 or 1.0
    ax.set_ylim(min(values) - 1.5 * span, max(values) + 1.5 * span)
    ax.set_xticks(range(len(have)), have, rotation=45)
    arrow = "↓" if evaluate.LOWER_IS_BETTER[metric] else "↑"
    ax.set_title(f"{metric.upper()} {arrow}")
  np.atleast_1d(axes)[0].legend(fontsize=7, loc="best")
  fig.suptitle("critic comparison: mean ± std over seeds (held-out test records)", fontsize=9)
  fig.tight_layout()
  path = out / "comparison.png"
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def main(argv=None) -> None:
  args = parse_args(argv)
  out = Path(args.out).resolve()
  out.mkdir(parents=True, exist_ok=True)
  variants = [v for v in args.variants.split(",") if v]
  seeds = [int(s) for s in args.seeds.split(",") if s]
  start_all = time.perf_counter()

  # One records build for every run (the variants share the data section of the config).
  records = Path(args.data_dir).resolve() if args.data_dir else out / "records"
  base = run_config(variants[0], seeds[0], args, records, "")
  t = time.perf_counter()
  builder.build(base, out)
  print(f"records ready in {time.perf_counter() - t:.0f} s at {records}", flush=True)
  selected, layers_note = ("", "not run")
  if "selected" in variants:
    selected, layers_note = selected_layers(args, base, out)
    print(f"selected layers: {selected} ({layers_note})", flush=True)

  evaluator = None
  compressed_path = out / "compressed.json"
  compressed = json.loads(compressed_path.read_text()) if compressed_path.is_file() else None
  pretrain_steps, variant_steps = budget_of(args)
  budget = {"shared content pretraining steps": pretrain_steps,
            "steps per variant": variant_steps, "n_critic": int(base.train.n_critic),
            "batch": int(base.data.batch_size),
            "crop": int(base.data.crop_size), "eval_examples": args.eval_examples or "all"}
  for seed in seeds:
    init_dir, _ = pretrained_generator(seed, args, records, out)
    for variant in variants:
      workdir = out / "runs" / f"{variant}-s{seed}"
      result_path = workdir / "result.json"
      if result_path.is_file():
        print(f"{variant} seed {seed}: done already, skipping", flush=True)
        continue
      config = run_config(variant, seed, args, records, selected, init_generator=str(init_dir))
      print(f"=== {variant} seed {seed}: training {config.train.steps} steps", flush=True)
      t = time.perf_counter()
      summary = train.train_and_evaluate(config, workdir)
      train_seconds = time.perf_counter() - t
      _, critic = summary["models"]
      del summary
      if evaluator is None:
        evaluator = evaluation.Evaluator(base, records, metrics=evaluation.METRICS,
                                       max_examples=args.eval_examples or None, group_fid=False)
      gen, params, _ = export.load_generator(workdir / "export")
      t = time.perf_counter()
      results = evaluator.evaluate(gen, params, group_fid=False)
      eval_seconds = time.perf_counter() - t
      compressed = results["overall"]["compressed"]
      compressed_path.write_text(json.dumps(compressed, indent=1))
      record = {"variant": variant, "seed": seed, "critic_layers": list(critic.layers)
                if hasattr(critic, "layers") else [], "steps": int(config.train.steps),
                "train_seconds": round(train_seconds, 1), "eval_seconds": round(eval_seconds, 1),
                "count": results["count"], "enhanced": results["overall"]["enhanced"],
                "compressed": compressed, "notes": results["notes"]}
      tmp = result_path.with_suffix(".tmp")
      tmp.write_text(json.dumps(record, indent=1))
      os.replace(tmp, result_path)
      print(f"{variant} seed {seed}: train {train_seconds:.0f} s, eval {eval_seconds:.0f} s, "
            f"enhanced {json.dumps({k: round(v, 4) for k, v in record['enhanced'].items()})}",
            flush=True)
      build_table(out, compressed, layers_note, budget)
  md = build_table(out, compressed, layers_note, budget)
  print(md)
  print(f"total wall time {time.perf_counter() - start_all:.0f} s", flush=True)


if __name__ == "__main__":
  main()
