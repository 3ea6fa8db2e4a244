"""Times ``codecs.round_trip`` (encode + decode + colour conversion) per codec.

Command:
  .venv/bin/python benchmarks/codecs_round_trip.py [--frames 24] [--height 240] [--repeats 3]

Footage: the bigbuckbunny sample clip area-downscaled to ``--height`` rows (240p: 426x240).
Prints, per codec setting: best wall time of ``--repeats`` runs, ms per frame, bits per pixel and
PSNR (RGB) of the decoded clip.
"""

import argparse
import time

import numpy as np

from jaxenhance import codecs
from jaxenhance.data import sources

SETTINGS = [
    codecs.EncodeSettings("h264", "qp", 32),
    codecs.EncodeSettings("h264", "crf", 28),
    codecs.EncodeSettings("hevc", "qp", 32),
    codecs.EncodeSettings("av1", "crf", 45),
    codecs.EncodeSettings("vp9", "crf", 40),
    codecs.EncodeSettings("jpeg", "qf", 20),
]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--frames", type=int, default=24)
  parser.add_argument("--height", type=int, default=240)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()

  clip = sources.sample_clip("bigbuckbunny", max_frames=args.frames, max_height=args.height)
  frames = clip.frames
  t, h, w, _ = frames.shape
  print(f"clip {clip.source_id}: {t} frames {w}x{h} at {clip.fps:g} fps")

  start = time.perf_counter()
  for _ in range(args.repeats):
    codecs.yuv420_to_rgb(*codecs.rgb_to_yuv420(frames))
  colour = (time.perf_counter() - start) / args.repeats
  print(f"colour conversion RGB->YUV420->RGB (numpy): {colour * 1e3:.1f} ms "
        f"({colour / t * 1e3:.2f} ms/frame)")

  print(f"{'setting':12s} {'time (s)':>9s} {'ms/frame':>9s} {'bpp':>7s} {'PSNR dB':>8s}  types")
  for settings in SETTINGS:
    best = np.inf
    for _ in range(args.repeats):
      start = time.perf_counter()
      trip = codecs.round_trip(frames, clip.fps, settings)
      best = min(best, time.perf_counter() - start)
    print(f"{settings.tag:12s} {best:9.3f} {best / t * 1e3:9.1f} {trip.bits_per_pixel:7.3f} "
          f"{codecs.psnr(frames, trip.frames):8.2f}  {''.join(trip.picture_types)}")


if __name__ == "__main__":
  main()
