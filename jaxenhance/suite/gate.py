"""The release gate: may this generator ship? Read off a suite run's results.

A checkpoint passes only if, on the held-out suite:
  * no codec rung has a mean PSNR change below 0 dB (enhanced - compressed, mean over items);
  * no codec rung has a mean LPIPS change above 0;
  * on every rung, the mean colour shift the model adds (enhanced minus compressed, each against
    the original, mean over items) is within ``MAX_COLOUR_SHIFT`` levels in each of R, G, B;
  * ``G(pristine)`` stays within ``MIN_IDENTITY_PSNR`` dB of pristine (mean over items).
The thresholds are the project's choice (a model that loses PSNR or moves colours on held-out
footage is a defect); ``benchmarks/release_gate.py`` runs the suite and exits non-zero on failure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

MAX_COLOUR_SHIFT = 0.5  # levels, per channel
MIN_IDENTITY_PSNR = 38.0  # dB


@dataclasses.dataclass(frozen=True)
class Check:
  name: str
  value: float
  limit: str
  passed: bool
  worst: str = ""


def checks(results: dict[str, Any]) -> list[Check]:
  """Every gate check of a suite run (``runner.run``'s results)."""
  out = []
  for tag, r in results["rungs"].items():
    w = r["worst_delta_psnr"]
    out.append(Check(f"{tag} mean ΔPSNR (dB)", r["delta_psnr"], ">= 0", r["delta_psnr"] >= 0,
                     f"{w['item']} {w['value']:+.2f}"))
    w = r["worst_delta_lpips"]
    out.append(Check(f"{tag} mean ΔLPIPS", r["delta_lpips"], "<= 0", r["delta_lpips"] <= 0,
                     f"{w['item']} {w['value']:+.4f}"))
    shift = added_shift(r)
    worst = max(shift, key=abs)
    out.append(Check(f"{tag} colour shift added (levels, worst channel)", worst,
                     f"|x| <= {MAX_COLOUR_SHIFT}", abs(worst) <= MAX_COLOUR_SHIFT,
                     "R,G,B " + ", ".join(f"{s:+.2f}" for s in shift)))
  ident = results["identity"]
  out.append(Check("G(pristine) vs pristine, mean PSNR (dB)", ident["mean_psnr"],
                   f">= {MIN_IDENTITY_PSNR:g}", ident["mean_psnr"] >= MIN_IDENTITY_PSNR,
                   f"{ident['worst']['item']} {ident['worst']['psnr']:.2f}"))
  return out


def added_shift(rung: dict[str, Any]) -> list[float]:
  """Mean colour shift the model adds on a rung, per channel: the enhanced output's mean shift
  against the original minus the compressed input's (codecs move mean colours by up to about a
  level on their own; an identity model must pass)."""
  return [rung["enhanced"][f"shift_{c}"] - rung["compressed"][f"shift_{c}"] for c in "rgb"]


def passed(results: dict[str, Any]) -> bool:
  return all(c.passed for c in checks(results))


def markdown(results: dict[str, Any]) -> str:
  """The gate as a Markdown table, with the verdict on top."""
  rows = checks(results)
  failed = [c for c in rows if not c.passed]
  verdict = ("**PASS**: every check holds" if not failed else
             f"**FAIL**: {len(failed)} of {len(rows)} checks fail")
  lines = [verdict, "", "| check | value | limit | worst item | |", "|---|---|---|---|---|"]
  for c in rows:
    lines.append(f"| {c.name} | {c.value:+.4f} | {c.limit} | {c.worst} | "
                 f"{'ok' if c.passed else '**FAIL**'} |")
  return "\n".join(lines)
