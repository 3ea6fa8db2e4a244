"""``analyze``: mean opinion scores with 95 % confidence intervals, paired differences between
conditions, ITU-R BT.500 observer screening, and a plot.

Only test trials count (training trials never do), and by default only participants who scored
every trial. Steps:

1. Screening (ITU-R BT.500, the beta-2 kurtosis test for one score per observer and
   presentation). For each presentation (item, rung, condition): the mean ``u``, the standard
   deviation ``s`` over observers and the kurtosis ``beta2 = m4 / m2**2``. Scores are taken as
   normally distributed when ``2 <= beta2 <= 4``, and the bounds are ``u +- 2 s``, else
   ``u +- sqrt(20) s``. Each observer counts ``P`` (scores at or above the upper bound) and ``Q``
   (at or below the lower) over the presentations they scored (``n``), and is rejected when
   ``(P + Q) / n > 0.05`` and ``|P - Q| / (P + Q) < 0.3``: often outside and on both sides, i.e.
   inconsistent rather than merely strict or lenient. A presentation every observer scored the
   same (``s = 0``) has no outliers and is skipped. BT.500 asks for at least 15 observers; with
   fewer the report says so. The test has little power in small panels: one wild observer
   among a few consistent ones makes each presentation's distribution non-normal (``beta2`` is
   about 7 for one outlier among nine), so the bounds widen to ``sqrt(20) s`` and miss them.
2. MOS per condition, per condition and rung, and per presentation: each observer's mean over
   the group's presentations, then the mean over observers, with a 95 % interval from Student's
   t with ``N - 1`` degrees of freedom (BT.500 writes ``1.96 S / sqrt(N)``, the large-``N``
   limit; with the few observers of a lab study the t interval is the honest one).
3. Differences between conditions, paired by observer: for two conditions, each observer's mean
   score difference over the presentations both share (same item and rung; same item when one
   is the hidden reference), then a paired t-test over observers (mean difference, 95 % interval,
   t, two-sided p), overall and per rung.

Outputs in the chosen folder: ``analysis.json`` (everything), ``analysis.md`` (the tables) and
``mos.png`` (MOS and intervals per rung and condition).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from jaxenhance import atomic_write
from jaxenhance.study import database
from jaxenhance.study import manifest as manifest_lib
from jaxenhance.study.manifest import REFERENCE, StudyError

MIN_OBSERVERS = 15  # BT.500's minimum for a study


def _summary(values: Iterable[float]) -> dict[str, float]:
  """n, mean, standard deviation and the 95 % t half-width of ``values``."""
  x = np.asarray(list(values), np.float64)
  n = len(x)
  sd = float(x.std(ddof=1)) if n > 1 else math.nan
  half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else math.nan
  return {"n": n, "mos": float(x.mean()) if n else math.nan, "sd": sd, "ci95": half}


def load_scores(study_dir: str | Path, include_incomplete: bool = False
                ) -> tuple[manifest_lib.Manifest, list[dict[str, Any]], list[dict[str, Any]]]:
  """``(manifest, test-trial scores, participants)``; each score row has the participant, the
  trial's item, rung and condition, and the score."""
  study_dir = Path(study_dir)
  manifest = manifest_lib.load(study_dir, verify=True)
  path = study_dir / manifest_lib.DATABASE_FILE
  if not path.is_file():
    raise StudyError(f"{path} does not exist: no scores yet; run `python -m jaxenhance.study "
                     "serve` and have participants take part first")
  db = database.Database(path, manifest_lib.manifest_sha256(study_dir))
  participants = db.participants()
  complete = {p["id"] for p in participants if p["scored"] == p["scheduled"]}
  rows = []
  for row in db.rows():
    if row["training"] or not (include_incomplete or row["participant"] in complete):
      continue
    trial = manifest.trial(row["trial"])
    rows.append({"participant": row["participant"], "trial": trial.id, "item": trial.item,
                 "rung": trial.rung, "condition": trial.condition, "score": row["score"]})
  return manifest, rows, participants


def screen(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """BT.500 observer screening (module docstring, step 1): ``{participant: counts, verdict}``."""
  by_presentation: dict[tuple, dict[str, float]] = defaultdict(dict)
  for r in rows:
    by_presentation[r["item"], r["rung"], r["condition"]][r["participant"]] = r["score"]
  counts = {p: {"presentations": 0, "P": 0, "Q": 0}
            for p in sorted({r["participant"] for r in rows})}
  for scores in by_presentation.values():
    u = np.array(list(scores.values()), np.float64)
    for p in scores:
      counts[p]["presentations"] += 1
    m2 = float(np.mean((u - u.mean()) ** 2))
    if len(u) < 2 or m2 == 0:
      continue
    beta2 = float(np.mean((u - u.mean()) ** 4)) / m2 ** 2
    bound = (2.0 if 2 <= beta2 <= 4 else math.sqrt(20)) * float(u.std(ddof=1))
    for p, value in scores.items():
      counts[p]["P"] += int(value >= u.mean() + bound)
      counts[p]["Q"] += int(value <= u.mean() - bound)
  for c in counts.values():
    outside = c["P"] + c["Q"]
    c["outside_ratio"] = outside / c["presentations"] if c["presentations"] else 0.0
    c["balance"] = abs(c["P"] - c["Q"]) / outside if outside else 1.0
    c["rejected"] = c["outside_ratio"] > 0.05 and c["balance"] < 0.3
  return counts


def _observer_means(rows, key: Callable[[dict], Hashable]) -> dict[Hashable, dict[str, float]]:
  """``{group: {participant: mean score over the group's presentations}}``."""
  sums: dict[Hashable, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
  for r in rows:
    sums[key(r)][r["participant"]].append(r["score"])
  return {g: {p: float(np.mean(v)) for p, v in by_p.items()} for g, by_p in sums.items()}


def _paired(rows, a: str, b: str, rung: str | None = None) -> dict[str, Any]:
  """Condition ``b`` minus condition ``a``, paired by observer (module docstring, step 3)."""
  match_rung = REFERENCE not in (a, b)
  cells: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: {a: [], b: []})
  for r in rows:
    if r["condition"] in (a, b) and (rung is None or r["rung"] in (rung, None)):
      key = (r["item"], r["rung"]) if match_rung else (r["item"],)
      cells[r["participant"], key][r["condition"]].append(r["score"])
  per_observer: dict[str, list[float]] = defaultdict(list)
  for (participant, _), scores in cells.items():
    if scores[a] and scores[b]:
      per_observer[participant].append(float(np.mean(scores[b]) - np.mean(scores[a])))
  diffs = [float(np.mean(d)) for d in per_observer.values()]
  out = {"a": a, "b": b, "rung": rung, **_summary(diffs)}
  out["mean_difference"] = out.pop("mos")
  if len(diffs) > 1 and out["sd"] > 0:
    test = stats.ttest_1samp(diffs, 0.0)
    out.update(t=float(test.statistic), p=float(test.pvalue))
  else:
    out.update(t=math.nan, p=math.nan)
  return out


def analyze(study_dir: str | Path, screening: bool = True, include_incomplete: bool = False
            ) -> dict[str, Any]:
  """Everything ``analyze`` reports (module docstring), as plain data."""
  manifest, rows, participants = load_scores(study_dir, include_incomplete)
  if not rows:
    raise StudyError("no test-trial scores from complete participants yet (training trials "
                     "never count); pass --include-incomplete to use unfinished sessions")
  screened = screen(rows)
  rejected = sorted(p for p, c in screened.items() if c["rejected"]) if screening else []
  used = [r for r in rows if r["participant"] not in rejected]
  conditions = [c for c in manifest.conditions if any(r["condition"] == c for r in used)]
  per_condition = {c: _summary(m.values()) for c, m in sorted(
      _observer_means(used, lambda r: r["condition"]).items(),
      key=lambda kv: conditions.index(kv[0]))}
  per_rung = {f"{rung}|{c}": {"rung": rung, "condition": c, **_summary(m.values())}
              for (rung, c), m in _observer_means(used, lambda r: (r["rung"], r["condition"])
                                                  ).items()}
  per_presentation = [{"item": i, "rung": rung, "condition": c, **_summary(m.values())}
                      for (i, rung, c), m in sorted(
                          _observer_means(used, lambda r: (r["item"], r["rung"],
                                                           r["condition"])).items(),
                          key=lambda kv: str(kv[0]))]
  differences = [_paired(used, a, b) for a, b in itertools.combinations(conditions, 2)]
  for rung in manifest.rungs:
    differences += [_paired(used, a, b, rung) for a, b in itertools.combinations(
        [c for c in conditions if c != REFERENCE], 2)]
  observers = len({r["participant"] for r in used})
  notes = []
  if observers < MIN_OBSERVERS:
    notes.append(f"{observers} observers: ITU-R BT.500 asks for at least {MIN_OBSERVERS}; "
                 "intervals are wide and screening has little power")
  return {
      "title": manifest.title, "method": "DSIS", "kind": manifest.kind,
      "conditions": conditions, "rungs": list(manifest.rungs),
      "participants": {"registered": len(participants),
                       "complete": sum(p["scored"] == p["scheduled"] for p in participants),
                       "analysed": observers, "rejected": rejected},
      "screening": {"applied": screening, "observers": screened},
      "per_condition": per_condition,
      "per_rung": [per_rung[k] for k in sorted(per_rung, key=lambda k: (
          manifest.rungs.index(per_rung[k]["rung"]) if per_rung[k]["rung"] else -1,
          conditions.index(per_rung[k]["condition"])))],
      "per_presentation": per_presentation,
      "differences": differences,
      "notes": notes,
  }


# ---------------------------------------------------------------------------------------------
# Reports.
# ---------------------------------------------------------------------------------------------

def _num(x: float, digits: int = 1) -> str:
  return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
  """The tables of ``results`` as Markdown."""
  p = results["participants"]
  lines = [f"# {results['title']}: DSIS results", "",
           f"Participants: {p['registered']} registered, {p['complete']} complete, "
           f"{p['analysed']} analysed"
           + (f" ({len(p['rejected'])} rejected by BT.500 screening: "
              f"{', '.join(p['rejected'])})" if p["rejected"] else "")
           + ". Scores: 0 = very annoying ... 100 = imperceptible impairment.", ""]
  lines += ["| condition | observers | MOS | 95 % CI |", "|---|---:|---:|---:|"]
  for c, s in results["per_condition"].items():
    label = f"{c} (hidden reference)" if c == REFERENCE else c
    lines.append(f"| {label} | {s['n']} | {_num(s['mos'])} | ± {_num(s['ci95'])} |")
  lines += ["", "| rung | condition | observers | MOS | 95 % CI |", "|---|---|---:|---:|---:|"]
  for s in results["per_rung"]:
    lines.append(f"| {s['rung'] or '(all)'} | {s['condition']} | {s['n']} | {_num(s['mos'])} | "
                 f"± {_num(s['ci95'])} |")
  lines += ["", "Paired differences (B − A, per observer, then a paired t-test):", "",
            "| A | B | rung | observers | mean B − A | 95 % CI | t | p |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
  for d in results["differences"]:
    lines.append(f"| {d['a']} | {d['b']} | {d['rung'] or 'all'} | {d['n']} | "
                 f"{_num(d['mean_difference'])} | ± {_num(d['ci95'])} | {_num(d['t'], 2)} | "
                 f"{_num(d['p'], 4)} |")
  lines += ["", "BT.500 screening (P: at or above u + k·s, Q: at or below u − k·s):", "",
            "| observer | presentations | P | Q | (P+Q)/n | rejected |",
            "|---|---:|---:|---:|---:|---|"]
  for name, c in results["screening"]["observers"].items():
    lines.append(f"| {name} | {c['presentations']} | {c['P']} | {c['Q']} | "
                 f"{_num(c['outside_ratio'], 2)} | {'yes' if c['rejected'] else 'no'} |")
  lines += [""] + [f"Note: {n}." for n in results["notes"]]
  return "\n".join(lines).rstrip() + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
  """MOS ± 95 % CI per rung, one series per condition; the hidden reference as a band."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  rungs = results["rungs"]
  series = [c for c in results["conditions"] if c != REFERENCE]
  fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=100)
  ref = results["per_condition"].get(REFERENCE)
  if ref is not None:
    ax.axhline(ref["mos"], color="0.4", lw=1, label="hidden reference")
    if math.isfinite(ref["ci95"]):
      ax.axhspan(ref["mos"] - ref["ci95"], ref["mos"] + ref["ci95"], color="0.85")
  by_key = {(s["rung"], s["condition"]): s for s in results["per_rung"]}
  width = 0.6 / max(len(series), 1)
  for k, condition in enumerate(series):
    xs, ys, es = [], [], []
    for i, rung in enumerate(rungs):
      s = by_key.get((rung, condition))
      if s is not None:
        xs.append(i + (k - (len(series) - 1) / 2) * width)
        ys.append(s["mos"])
        es.append(s["ci95"] if math.isfinite(s["ci95"]) else 0.0)
    ax.errorbar(xs, ys, yerr=es, fmt="o", capsize=4, label=condition)
  ax.set_xticks(range(len(rungs)), rungs)
  ax.set_xlim(-0.5, len(rungs) - 0.5)
  ax.set_ylim(0, 100)
  ax.set_ylabel("MOS (0 very annoying … 100 imperceptible)")
  ax.set_title(f"{results['title']} ({results['participants']['analysed']} observers)")
  ax.grid(axis="y", alpha=0.3)
  ax.legend(loc="lower left", fontsize=8)
  fig.tight_layout()
  with atomic_write.outputs(path) as (tmp,):
    fig.savefig(tmp, format="png")
  plt.close(fig)


def _finite(x: Any) -> Any:
  """``x`` with NaN and infinities as None (JSON has no NaN)."""
  if isinstance(x, float):
    return x if math.isfinite(x) else None
  if isinstance(x, dict):
    return {k: _finite(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_finite(v) for v in x]
  return x


def write(results: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
  """Writes ``analysis.json``, ``analysis.md`` and ``mos.png`` into ``out_dir``."""
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths = {"json": out_dir / "analysis.json", "markdown": out_dir / "analysis.md",
           "plot": out_dir / "mos.png"}
  atomic_write.write_text(paths["json"], json.dumps(_finite(results), indent=1) + "\n")
  atomic_write.write_text(paths["markdown"], markdown(results))
  plot(results, paths["plot"])
  return paths
