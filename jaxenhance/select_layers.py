r"""Perceptual layer selection: probe a network with gratings, score its layers, pick the best.

  python -m jaxenhance.select_layers --config=configs/select_layers.py --workdir=workdir/select

Writes into ``<workdir>/selection/``: ``report.json`` (or ``config.selection.report``) with every
layer's scores, the ranking, the selected layers and every parameter used, and the figures
``layer_scores.png``, ``tuning_curves.png``, ``orientation_polar.png``,
``preferred_frequency.png``. The probe's responses are cached by their parameters in
``config.selection.cache_dir`` (default ``<asset cache>/probes``), so a rerun with another ppd,
CSF, k or threshold costs seconds. The critic reads the report when ``critic.layers='selected'``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import flax
import jax
from absl import app, flags, logging
from ml_collections import config_flags

from jaxenhance import assets, cloud, config_loader, errors
from jaxenhance.perception import gratings, networks, plots, probe, scoring, selection

_FLAGS: dict[str, Any] = {}


def _define_flags() -> None:
  """Flags exist only when this module is the program (``jaxenhance.run`` imports it)."""
  _FLAGS.update(
      config=config_flags.DEFINE_config_file(
          "config", str(config_loader.config_path("select_layers")), "Layer-selection config."),
      workdir=flags.DEFINE_string("workdir", "workdir/select", "Work directory."))


def _get(section: Any, key: str, default: Any) -> Any:
  """A config value, or the default for keys older configs (configs/default.py) lack."""
  return section.get(key, default) if hasattr(section, "get") else getattr(section, key, default)


def stimulus_spec(sel: Any) -> gratings.StimulusSpec:
  f_min = _get(sel, "f_min", 0.0)
  return gratings.StimulusSpec(
      size=int(sel.size), num_freqs=int(sel.num_freqs), num_orients=int(sel.num_orients),
      contrast=float(_get(sel, "contrast", 1.0)), f_min=float(f_min) if f_min else None,
      f_max=float(_get(sel, "f_max", gratings.NYQUIST)))


def scoring_spec(sel: Any) -> scoring.ScoringSpec:
  field = _get(sel, "barten_field_deg", 0.0)
  return scoring.ScoringSpec(
      ppd=float(sel.ppd), csf=str(sel.csf),
      barten_luminance=float(_get(sel, "barten_luminance", 100.0)),
      barten_field_deg=float(field) if field else None,
      abs_tol=float(_get(sel, "abs_tol", 1e-6)), rel_tol=float(_get(sel, "rel_tol", 1e-2)))


def cache_dir(sel: Any) -> cloud.AnyPath:
  return cloud.path(_get(sel, "cache_dir", "") or assets.cache_dir() / "probes")


def run_probe(sel: Any, network: networks.Network | None = None) -> probe.ProbeResult:
  """The (cached) probe of ``sel.network`` at the layers ``sel.layers``."""
  network = network or networks.get_network(str(sel.network))
  layers = network.resolve_layers(_get(sel, "layers", "default"))
  stim = stimulus_spec(sel)
  network.check_size(stim.size)
  return probe.cached_probe(
      network.make_features_fn(layers), stim, layers, cache_dir(sel),
      network_id=network.network_id, params=network.params,
      crop_fraction=float(_get(sel, "crop_fraction", 0.5)),
      batch_size=int(_get(sel, "batch_size", 16)), log=logging.info)


def run_stage(config: Any, workdir: str | Path) -> dict[str, Any]:
  """Probe, score, select, write the report and figures; returns a summary for the main job."""
  sel = config.selection
  out = cloud.path(workdir) / "selection"
  # Check the cheap parameters before the probe (minutes) rather than after it.
  sspec = scoring_spec(sel)
  top_k = int(sel.top_k) if sel.top_k is not None else None
  threshold = float(sel.threshold) if sel.threshold is not None else None
  stim = stimulus_spec(sel)
  network = networks.get_network(str(sel.network))
  network.check_size(stim.size)
  selection.check_rule(network.resolve_layers(_get(sel, "layers", "default")), top_k, threshold)

  start = time.perf_counter()
  result = run_probe(sel, network)
  probe_s = time.perf_counter() - start
  scores = scoring.score_layers(result.responses, result.freqs, result.thetas, sspec,
                                int(result.params["stimulus"]["size"]))
  chosen = selection.select({n: s.score for n, s in scores.items()}, top_k, threshold)
  config_section = sel.to_dict() if hasattr(sel, "to_dict") else dict(sel)
  report = selection.build_report(
      result, scores, sspec, chosen, network=str(sel.network), top_k=top_k, threshold=threshold,
      extra_params={"config_selection": config_section,
                    "versions": {"jax": jax.__version__, "flax": flax.__version__}})
  report_path = cloud.path(_get(sel, "report", "") or out / "report.json")
  selection.write_report(report, report_path)
  figures = plots.write_all(report, result, scores, out)

  for name in report["ranking"]:
    layer = report["layers"][name]
    logging.info("%-14s score %.4f  S_F %.3f  S_O %.3f  responsive %.2f%s", name, layer["score"],
                 layer["mean_s_f"], layer["mean_s_o"], layer["responsive_fraction"],
                 "  *selected*" if name in chosen else "")
  flagged = [n for n, l in report["layers"].items() if l["flags"]]
  return {"selected_layers": chosen, "ranking": report["ranking"], "flagged_layers": flagged,
              "report": str(report_path), "figures": [str(f) for f in figures],
              "probe_seconds": round(probe_s, 1), "probe_timing": result.timing}


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  try:
    summary = run_stage(_FLAGS["config"].value, _FLAGS["workdir"].value)
  except errors.USER_ERRORS as exc:
    errors.exit_on_error("select-layers", exc)
  print(f"selected layers: {', '.join(summary['selected_layers'])}")
  print(f"ranking: {', '.join(summary['ranking'])}")
  if summary["flagged_layers"]:
    print(f"layers without responsive channels: {', '.join(summary['flagged_layers'])}")
  t = summary["probe_timing"]
  print(f"probe: {t['images']} images in {t['total_s']:.1f} s ({t['images_per_s']:.1f} img/s, "
        f"first batch incl. compile {t['first_batch_s']:.1f} s); this run {summary['probe_seconds']}"
        " s (cached probes cost ~0)")
  print(f"report: {summary['report']}")


def cli() -> None:
  """The program (``jaxenhance select-layers`` or ``python -m jaxenhance.select_layers``)."""
  sys.argv = config_loader.expand_config_flags(sys.argv)
  _define_flags()
  app.run(main)


if __name__ == "__main__":
  cli()
