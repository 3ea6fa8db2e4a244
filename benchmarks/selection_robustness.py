r"""Robustness of the VGG-16 layer ranking to the stimulus size and the pixels-per-degree.

  python benchmarks/selection_robustness.py --sizes=112,224 --ppds=16,32,64 \
      --out=benchmarks/results/selection_robustness

Probes VGG-16 (13 ReLU layers, configs/select_layers.py defaults otherwise) once per stimulus
size (cached by parameters in the asset cache, shared with `python -m jaxenhance.select_layers`),
rescores for every ppd (the probe does not depend on ppd), and writes ``ranking.md`` (layer score
and rank per setting, the top-k per setting, Kendall's tau of each ranking against the reference
setting) and ``ranking.png``. Prints the table and each probe's wall time.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from configs import select_layers as config_lib
from jaxenhance import select_layers
from jaxenhance.perception import networks, scoring, selection


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="112,224")
  parser.add_argument("--ppds", default="16,32,64")
  parser.add_argument("--csf", default="mannos_sakrison")
  parser.add_argument("--top_k", type=int, default=3)
  parser.add_argument("--reference", default="224,32", help="size,ppd of the reference ranking")
  parser.add_argument("--out", default="benchmarks/results/selection_robustness")
  args = parser.parse_args()
  sizes = [int(s) for s in args.sizes.split(",")]
  ppds = [float(p) for p in args.ppds.split(",")]
  ref = (int(args.reference.split(",")[0]), float(args.reference.split(",")[1]))
  if ref not in itertools.product(sizes, ppds):
    ref = (sizes[-1], ppds[len(ppds) // 2])

  network = networks.get_network("vgg16")
  sel = config_lib.get_config().selection
  scores: dict[tuple[int, float], dict[str, float | None]] = {}
  timings = {}
  for size in sizes:
    sel.size = size
    start = time.perf_counter()
    result = select_layers.run_probe(sel, network)
    timings[size] = (time.perf_counter() - start, result.timing)
    print(f"size {size}: probe {result.timing['images']} images, measured "
          f"{result.timing['total_s']:.1f} s ({result.timing['images_per_s']:.2f} img/s) when it "
          f"ran; this call {timings[size][0]:.1f} s", flush=True)
    for ppd in ppds:
      sspec = scoring.ScoringSpec(ppd=ppd, csf=args.csf)
      layer_scores = scoring.score_layers(result.responses, result.freqs, result.thetas, sspec,
                                          size)
      scores[(size, ppd)] = {n: s.score for n, s in layer_scores.items()}

  layers = list(network.default_layers)
  settings = list(scores)
  ranks = {k: selection.ranking(v) for k, v in scores.items()}
  lines = [(f"VGG-16 layer scores (mean S_F·S_O over responsive channels) and rank, CSF {args.csf}, "
           f"{sel.num_freqs} frequencies x {sel.num_orients} orientations x 4 phases."), "",
           "| layer | " + " | ".join(f"S={s}, ppd={p:g}" for s, p in settings) + " |",
           "|---|" + "---|" * len(settings)]
  for name in layers:
    cells = []
    for k in settings:
      v = scores[k][name]
      cells.append("flagged" if v is None else f"{v:.3f} (#{ranks[k].index(name) + 1})")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  lines.append(f"| **top-{args.top_k}** | " + " | ".join(
      ", ".join(selection.select(scores[k], top_k=args.top_k)) for k in settings) + " |")
  taus = []
  for k in settings:
    common = [n for n in layers if scores[k][n] is not None and scores[ref][n] is not None]
    tau = stats.kendalltau([scores[k][n] for n in common], [scores[ref][n] for n in common])[0]
    taus.append(f"{tau:.2f}")
  lines.append(f"| Kendall τ vs S={ref[0]}, ppd={ref[1]:g} | " + " | ".join(taus) + " |")
  lines += ["", "Probe wall time (VGG-16 to relu5_3, all 13 ReLU taps in one pass, "
            "20x16x4 = 1,280 gratings; measured when each probe first ran, then cached): " +
            "; ".join(f"S={s}: {t[1]['total_s']:.0f} s ({t[1]['images_per_s']:.1f} img/s)"
                      for s, t in timings.items())]
  table = "\n".join(lines)
  print(table)

  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / "ranking.md").write_text(table + "\n")
  fig, ax = plt.subplots(figsize=(9, 4.5))
  x = np.arange(len(layers))
  for k in settings:
    ax.plot(x, [np.nan if scores[k][n] is None else scores[k][n] for n in layers], marker="o",
            ls="-" if k[0] == sizes[-1] else "--", label=f"S={k[0]}, ppd={k[1]:g}")
  ax.set_xticks(x, layers, rotation=45, ha="right")
  ax.set_ylabel("layer score  mean(S_F·S_O)")
  ax.set_title(f"VGG-16 layer scores vs stimulus size and ppd (CSF {args.csf})")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(out / "ranking.png", dpi=110)
  print(f"wrote {out / 'ranking.md'} and {out / 'ranking.png'}")


if __name__ == "__main__":
  main()
