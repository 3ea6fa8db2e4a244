r"""Quality predictor (Galteri et al.'s QF classifier, plus video QP bins): data, network, training.

Commands:
  python -m jaxenhance.qf_train --workdir=workdir                 # JPEG QF 5/10/20/30/40/60
  python -m jaxenhance.qf_train --workdir=workdir --codec=h264    # x264 QP bins
  python -m jaxenhance.qf_train --workdir=/tmp/qf --config=configs/qf.py:quick   # smoke run
Hardware: CPU is enough. Expected time on a shared 2-core CPU: a few minutes per codec (data
preparation + training); see the README's results table for the measured accuracy.

Data (real content only; no source is in both splits, the trainer checks it):
  train: scikit-image photos and pan/zoom clips over them, the bikes and bigbuckbunny clips
         (area-downscaled 2x: they are H.264 already), gray photos replicated to RGB;
  test:  coffee, stereo_motorcycle, immunohistochemistry, retina (held-out photos, full images
         and random crops) and the carphone clip.
Photos stored as JPEG in scikit-image (rocket, hubble_deep_field, retina) are area-downscaled 2x
first so their own JPEG coding does not leak into the labels.

Network size, patch size (48, grid-aligned to 16), 16 averaged patches per image and the
optimiser settings are project choices (the paper body is not available).
"""

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  q = c.qf = ml_collections.ConfigDict()
  q.codec = "jpeg"  # "jpeg" (QF classes) or "h264" (QP bins); --codec overrides
  q.jpeg_qfs = (5, 10, 20, 30, 40, 60)
  q.h264_bins = ((22, 27), (28, 32), (33, 37), (38, 42), (43, 51))
  q.h264_values = (27, 32, 37, 42, 47)  # ladder QP inside each bin (keys of the ensemble)
  q.h264_preset = "medium"
  q.h264_gop = 12
  q.qps_per_bin = 2  # training clips are encoded at this many random QPs of every bin

  # ------------------------------------------------------------------ data
  q.train_photos = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "camera", "coins",
                    "moon", "grass", "gravel", "brick", "clock", "text", "page")
  q.train_clips = ("bikes", "bigbuckbunny")
  q.test_photos = ("coffee", "stereo_motorcycle", "immunohistochemistry", "retina")
  q.test_clips = ("carphone",)
  q.jpeg_coded_photos = ("rocket", "hubble_deep_field", "retina")  # downscaled 2x first
  q.clip_frames = 24  # frames per clip (JPEG: spread over the clip; H.264: consecutive)
  q.panzoom_frames = 6  # pan/zoom clip per RGB photo (H.264: 12 consecutive frames)
  q.panzoom_height = 240
  q.train_crops = 4  # random crops per training photo, each compressed on its own
  q.test_crops = 6
  q.crop_range = (96, 320)  # crop side range in pixels
  q.patch_size = 48
  q.align = 16  # patch positions are multiples of this (JPEG MCU / H.264 macroblock)
  q.patches_per_image = 8  # random training patches cut from every compressed image
  q.min_patch_std = 2.0  # skip near-flat training patches (they look alike at every quality)
  q.num_patches = 16  # most textured patches averaged per image at prediction time

  # ------------------------------------------------------------------ network + training
  # "dct" (JPEG: block-DCT quantiser-step features), "pixels" (plain CNN, any codec), or ""
  # (dct for jpeg, pixels for video codecs).
  q.stem = ""
  q.max_step = 64  # dct stem: quantiser steps 2..max_step are probed
  q.channels = "luma"  # pixels stem: "luma" or "rgb"
  q.widths = (16, 32, 64, 96)
  q.dense = 64
  q.steps = 400
  q.batch_size = 64
  q.lr = 2e-3
  q.weight_decay = 1e-4
  q.log_every = 100

  if arg == "quick":
    q.train_photos = ("astronaut", "chelsea", "camera")
    q.train_clips = ("bikes",)
    q.test_photos = ("coffee",)
    q.test_clips = ()
    q.clip_frames, q.panzoom_frames, q.train_crops, q.test_crops = 4, 2, 1, 2
    q.steps = 60
  elif arg:
    raise ValueError(f"Unknown variant {arg!r}; use quick (or nothing).")
  return c
