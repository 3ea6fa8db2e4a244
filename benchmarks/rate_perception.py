r"""Rate–perception curves: codec alone vs codec + enhancement, BD-rate, and a face check.

  .venv/bin/python benchmarks/rate_perception.py --checkpoint=workdir/quickstart \
      --config=configs/quickstart.py --clips=sample:carphone,sample:bikes --qps=27,32,37,42

For each rung of an x264 QP ladder (``--codec``/``--qps``), the held-out clips (whole frames,
loaded and downscaled as the records builder does) are encoded and decoded, then enhanced by the
exported generator. FID/KID/LPIPS/PSNR/SSIM (NIQE when frames are large enough) of both against
the originals, against the codec's bits per pixel. Bjøntegaard deltas (``metrics.bd_rate``, the
piecewise-cubic fit and the VCEG-M33 cubic) of codec + enhancement vs the codec alone: the
bitrate saving at equal LPIPS / PSNR / SSIM / FID (negative = fewer bits for the same quality),
and the quality change at equal rate. A metric whose curve is not monotonic in rate gets "n/a"
with the reason instead of a number.

Face check (``--faces``): OpenCV's Haar face detector on the carphone clip at its native
176×144 (the records' 2× downscale leaves faces too small for the 24 px detector) and on the
astronaut photo, at the same rungs: IoU-matched recall/precision of detections on compressed and
on enhanced frames vs detections on the originals (``metrics.faces``).

Writes ``<out>/rate_perception.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxenhance import assets, codecs, evaluate, evaluation, export, video_io
from jaxenhance.config_loader import load_config
from jaxenhance.metrics import bd_rate, faces

CURVE_METRICS = ("lpips", "psnr", "ssim", "fid", "kid", "niqe")


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--checkpoint", required=True, help="export dir or workdir with export/")
  p.add_argument("--config", default="configs/quickstart.py")
  p.add_argument("--clips", default="sample:carphone")
  p.add_argument("--codec", default="h264")
  p.add_argument("--param", default="qp")
  p.add_argument("--qps", default="27,32,37,42")
  p.add_argument("--preset", default="medium")
  p.add_argument("--max_frames", type=int, default=24)
  p.add_argument("--face_frames", type=int, default=24)
  p.add_argument("--faces", action=argparse.BooleanOptionalAction, default=True)
  p.add_argument("--out", default="benchmarks/results/rate_perception")
  return p.parse_args(argv)


def bd_table(rungs: dict, metrics: list[str]) -> dict:
  """BD-rate (pchip and cubic) and BD-quality of enhanced vs compressed per metric."""
  names = sorted(rungs, key=lambda n: rungs[n]["compressed"]["bits_per_pixel"])
  rate = [rungs[n]["compressed"]["bits_per_pixel"] for n in names]
  out = {}
  for m in metrics:
    a = [rungs[n]["compressed"].get(m, np.nan) for n in names]
    b = [rungs[n]["enhanced"].get(m, np.nan) for n in names]
    row = {}
    for key, fn, method in (("bd_rate_pchip_%", bd_rate.bd_rate, "pchip"),
                            ("bd_rate_cubic_%", bd_rate.bd_rate, "cubic"),
                            ("bd_quality", bd_rate.bd_quality, "pchip")):
      try:
        row[key] = fn(rate, a, rate, b, method)
      except ValueError as exc:
        row[key] = None
        row.setdefault("why_na", str(exc))
    out[m] = row
  return out


def face_check(generator, params, rungs, max_frames: int) -> dict:
  """Detection agreement on native carphone frames and the astronaut photo, per rung."""
  import jax
  import jax.numpy as jnp

  carphone, info = video_io.read_frames(assets.sample_clip_path("carphone"),
                                        max_frames=max_frames)
  sets = {"carphone": (carphone, info.fps), "astronaut": (assets.sample_photo("astronaut")[None],
                                                          25.0)}
  enhance = jax.jit(lambda p, x: jnp.round(generator.apply(p, x.astype(jnp.float32) / 255.0)
                                           * 255.0).astype(jnp.uint8))
  results = {}
  for name, (frames, fps) in sets.items():
    reference = faces.detect_all(frames)
    for rung in rungs:
      decoded = codecs.round_trip(frames, fps, rung).frames
      enhanced = np.concatenate([np.asarray(enhance(params, decoded[i:i + 4]))
                                 for i in range(0, len(decoded), 4)])
      results[f"{name} {rung.tag}"] = {
          "compressed": faces.agreement(frames, decoded, reference_boxes=reference),
          "enhanced": faces.agreement(frames, enhanced, reference_boxes=reference)}
  return results


def plot(rungs: dict, metrics: list[str], path: Path) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  names = sorted(rungs, key=lambda n: rungs[n]["compressed"]["bits_per_pixel"])
  bpp = [rungs[n]["compressed"]["bits_per_pixel"] for n in names]
  shown = [m for m in metrics if all(np.isfinite(rungs[n]["compressed"].get(m, np.nan))
                                     for n in names)]
  fig, axes = plt.subplots(1, len(shown), figsize=(3.3 * len(shown), 3.2), squeeze=False)
  for ax, m in zip(axes[0], shown):
    for row, marker in (("compressed", "o-"), ("enhanced", "s-")):
      ax.plot(bpp, [rungs[n][row][m] for n in names], marker,
              label="codec" if row == "compressed" else "codec + enhancement")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_title(m.upper() + (" (lower better)" if evaluate.LOWER_IS_BETTER[m] else ""),
                 fontsize=9)
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv=None) -> None:
  args = parse_args(argv)
  start = time.perf_counter()
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  config = load_config(args.config)
  export_dir, _ = export.resolve(args.checkpoint)
  generator, params, meta = export.load_generator(export_dir)
  rungs = [codecs.EncodeSettings(args.codec, args.param, int(q), preset=args.preset)
           for q in args.qps.split(",")]
  clips = [c for c in args.clips.split(",") if c]
  encoded = evaluation.encode_clips(config, clips, rungs, max_frames=args.max_frames)
  t = int(meta["generator"].get("temporal_window", 1))
  batches = evaluation.clip_batches(encoded, t, batch_size=8)
  evaluator = evaluation.Evaluator(config, batches=batches, metrics=evaluation.METRICS)
  results = evaluator.evaluate(generator, params)
  by_rung = results["groups"]["rung"]
  metrics = [m for m in CURVE_METRICS if m in results["overall"]["compressed"]]
  bd = bd_table(by_rung, metrics)

  lines = [f"# Rate–perception: {args.codec} {args.param} {args.qps} on {', '.join(clips)}", "",
           (f"- checkpoint: `{export_dir}` (step {meta.get('step')}); frames: "
            f"{results['count']} per row, sizes {results['sizes']}"), "",
           "## Curves (per rung)", "",
           evaluate.markdown_table({f"{n} · {row}": by_rung[n][row] for n in sorted(
               by_rung, key=lambda n: -by_rung[n]["compressed"]["bits_per_pixel"])
               for row in evaluate.ROWS}, "rung"),
           "", "## Bjøntegaard deltas, codec + enhancement vs codec alone", "",
           "| metric | BD-rate pchip | BD-rate cubic | BD-quality (pchip) |", "|---|---|---|---|"]
  for m, row in bd.items():
    cells = [evaluate.format_value(row[k], 2) + ("%" if row[k] is not None and k != "bd_quality" else "")
             for k in ("bd_rate_pchip_%", "bd_rate_cubic_%")]
    cells.append(evaluate.format_value(row["bd_quality"], 4))
    lines.append(f"| {m} | " + " | ".join(cells) + " |")
  why = {m: r["why_na"] for m, r in bd.items() if "why_na" in r}
  if why:
    lines += [""] + [f"- {m}: n/a because {w}" for m, w in why.items()]
  face = {}
  if args.faces:
    face = face_check(generator, params, rungs, args.face_frames)
    lines += ["", "## Face detection agreement with the originals (Haar, IoU ≥ 0.5)", "",
              ("| frames · rung | faces on original | compressed recall / precision | "
               "enhanced recall / precision |"), "|---|---|---|---|"]
    for name, r in face.items():
      c, e = r["compressed"], r["enhanced"]
      lines.append(f"| {name} | {c['reference_faces']} | {c['recall']:.3f} / "
                   f"{c['precision']:.3f} | {e['recall']:.3f} / {e['precision']:.3f} |")
  if results["notes"]:
    lines += ["", "## Notes", ""] + [f"- {n}" for n in results["notes"]]
  seconds = time.perf_counter() - start
  lines += ["", f"Wall time: {seconds:.0f} s."]
  md = "\n".join(lines) + "\n"
  (out / "rate_perception.md").write_text(md)
  (out / "rate_perception.json").write_text(json.dumps(
      {"args": vars(args), "rungs": by_rung, "overall": results["overall"], "bd": bd,
       "faces": face, "notes": results["notes"], "seconds": seconds}, indent=1,
      default=evaluate._json_default))
  plot(by_rung, metrics, out / "rate_perception.png")
  print(md)


if __name__ == "__main__":
  main()
