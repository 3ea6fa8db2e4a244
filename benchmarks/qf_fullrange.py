"""The JPEG quality predictor over the whole quality range: recipes side by side on held-out images.

Command (writes benchmarks/results/qf_jpeg_fullrange.md, .json and .png):
  .venv/bin/python benchmarks/qf_fullrange.py --workdir=/tmp/qfruns

Trains each recipe with ``python -m jaxenhance.qf_train``'s ``run`` into ``<workdir>/<name>``
(a run whose ``fullrange.json`` is already there is reused, so the commands
``python -m jaxenhance.qf_train --workdir=<workdir>/<name> --config=qf.py[:variant]`` give the
same result), then compares them on the same held-out images (coffee, stereo_motorcycle,
immunohistochemistry, retina: full photos, crops and pan/zoom frames; carphone frames) at QF 5,
10, ..., 95 through Pillow, OpenCV (when installed) and FFmpeg's mjpeg:

  classes     the default: fine classes QF 5, 10, ..., 95 trained on random QF 5-95 from
              Pillow (random subsampling) and mjpeg
  regression  the same data, one output on qf_axis
  six_class   the previous recipe: Pillow 4:2:0 at exactly QF 5/10/20/30/40/60, six outputs
"""

import argparse
import json
import time
from pathlib import Path

from jaxenhance import config_loader, qf_eval, qf_train

RECIPES = {"classes": "qf", "regression": "qf:regression", "six_class": "qf:six_class"}
OUT = Path(__file__).resolve().parent / "results" / "qf_jpeg_fullrange"


def load_or_train(name: str, workdir: Path) -> dict:
  """The run's ``fullrange.json``, training it first when it is missing."""
  path = workdir / name / "qf" / "jpeg" / "fullrange.json"
  if not path.is_file():
    start = time.perf_counter()
    qf_train.run(config_loader.load_config(RECIPES[name]), workdir / name, log=print)
    print(f"{name}: trained and evaluated in {time.perf_counter() - start:.0f} s")
  return json.loads(path.read_text())


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", type=Path, required=True)
  parser.add_argument("--recipes", default=",".join(RECIPES),
                      help=f"comma-separated, of {list(RECIPES)}")
  parser.add_argument("--out", type=Path, default=OUT, help="output path without extension")
  args = parser.parse_args()

  names = [n for n in args.recipes.split(",") if n]
  unknown = sorted(set(names) - set(RECIPES))
  if unknown:
    parser.error(f"unknown recipes {unknown}; choose from {list(RECIPES)}")
  loaded = {name: load_or_train(name, args.workdir) for name in names}
  tests = {name: (d["data"]["test_sources"], d["data"]["test_images"], d["data"]["eval_qfs"],
                  d["data"]["eval_encoders"]) for name, d in loaded.items()}
  if len(set(map(json.dumps, tests.values()))) != 1:
    raise SystemExit(f"the runs were evaluated on different images or grids: {tests}")
  runs = {name: next(iter(d["runs"].values())) for name, d in loaded.items()}

  data = next(iter(loaded.values()))["data"]
  command = ("Command: `.venv/bin/python benchmarks/qf_fullrange.py --workdir=/tmp/qfruns` "
             "(trains each recipe with `python -m jaxenhance.qf_train "
             "--workdir=/tmp/qfruns/<recipe> --config=qf.py[:regression|:six_class]`, then "
             "compares them; see the script's docstring).")
  data_note = (f"Held-out sources (none in training): {', '.join(data['test_sources'])}; "
               f"{data['test_images']} images (full photos, crops, pan/zoom frames, clip frames) "
               "per row. *QF in file*: the quality the file's tables give (`jpeg_quality`; "
               "mjpeg: the effective IJG quality of the nearest qscale, as asked QF 95 reaches "
               "97). OpenCV writes the same bytes as Pillow (both libjpeg-turbo with IJG "
               "tables), so its rows repeat Pillow's.")
  columns = ("recipe", "training encoders", "training QFs", "head", "training patches",
             "data + train + eval wall time (s, shared 2-core CPU)")
  header = [command, "", data_note, "", "| " + " | ".join(columns) + " |",
            "|---" * len(columns) + "|"]
  for name, d in loaded.items():
    c, t = d["config"], d["timing"]
    qfs = (", ".join(map(str, c["train_qf_grid"])) if c["train_qf_grid"]
           else f"uniform {c['train_qf_range'][0]}-{c['train_qf_range'][1]}")
    header.append(f"| {name} | {', '.join(c['jpeg_encoders'])} | {qfs} | "
                  f"{c['head'] or 'the six classes'} | {d['data']['train_patches']} | "
                  f"{t['data_s']} + {t['train_s']} + {t['eval_s']} |")
  title = "JPEG quality predictor over QF 5-95, held-out images"
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.with_suffix(".md").write_text(qf_eval.markdown(runs, title, header))
  summary = {name: {e: s["totals"] for e, s in qf_eval.summarise(r).items()}
             for name, r in runs.items()}
  args.out.with_suffix(".json").write_text(json.dumps(
      {"summary": summary, "runs": runs, "data": data,
       "recipes": {n: {"config": d["config"], "timing": d["timing"]} for n, d in loaded.items()}}))
  qf_eval.plot(runs, title, args.out.with_suffix(".png"))
  for name, s in summary.items():
    for encoder, t in s.items():
      print(f"{name:10s} {encoder:7s} " + "  ".join(
          f"{part}: MAE {v['mae']:.1f} right {100 * v['right']:.1f}% lower "
          f"{100 * v['lower']:.1f}%" for part, v in t.items()))
  print(f"wrote {args.out}.md/.json/.png")


if __name__ == "__main__":
  main()
