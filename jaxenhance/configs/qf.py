r"""Quality predictor (Galteri et al.'s QF classifier, plus video QP bins): data, network, training.

Commands:
  python -m jaxenhance.qf_train --workdir=workdir                 # JPEG, QF 5-95, Pillow + mjpeg
  python -m jaxenhance.qf_train --workdir=workdir --config=configs/qf.py:regression
  python -m jaxenhance.qf_train --workdir=workdir --config=configs/qf.py:six_class  # the old recipe
  python -m jaxenhance.qf_train --workdir=workdir --codec=h264    # x264 QP bins
  python -m jaxenhance.qf_train --workdir=/tmp/qf --config=configs/qf.py:quick   # smoke run
Variants combine with commas (``:quick,regression``).
Hardware: CPU is enough. Expected time on a shared 2-core CPU: a few minutes per codec (data
preparation + training); see the README's results table for the measured accuracy.

JPEG (full range): every training image is encoded ``encodes_per_image`` times, each time by an
encoder drawn from ``jpeg_encoders`` (Pillow at a random chroma subsampling, FFmpeg's mjpeg
through PyAV) at a quality drawn uniformly from the integers of ``train_qf_range``; the label is
the quality the file's own tables give (``jpeg_quality``: exact for Pillow, the effective IJG
quality for mjpeg, whose tables are not IJG's). The network estimates the quality (``head``) and
routing picks the class of ``jpeg_qfs`` nearest to it. Evaluation: every held-out image at every
QF of ``eval_qfs`` through every encoder of ``eval_encoders`` (OpenCV too when installed: an
encoder not seen in training).

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
  q.jpeg_qfs = (5, 10, 20, 30, 40, 60)  # routing classes: the keys of the generator ensemble
  q.jpeg_encoders = ("pillow", "mjpeg")  # training encoders (jpeg_encoders.ENCODERS)
  q.subsamplings = ("4:4:4", "4:2:2", "4:2:0")  # drawn per Pillow/OpenCV training encode
  q.train_qf_range = (5, 95)  # training qualities: uniform over these integers (inclusive)
  q.train_qf_grid = ()  # when set, training qualities are drawn from these values instead
  q.encodes_per_image = 24  # JPEG training encodes of every image
  # "classes": fine classes over head_qfs (two-hot targets); "regression": one output on
  # qf_axis; "": the network outputs the jpeg_qfs classes themselves (the six-class predictor).
  q.head = "classes"
  q.head_qfs = tuple(range(5, 100, 5))
  q.eval_encoders = ("pillow", "opencv", "mjpeg")
  q.eval_qfs = tuple(range(5, 100, 5))
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
  q.steps = 4000  # JPEG (full range)
  q.h264_steps = 400  # H.264 QP bins: replaces steps when qf.codec is h264
  q.batch_size = 64
  q.lr = 2e-3
  q.weight_decay = 1e-4
  q.log_every = 100

  for variant in (arg or "").split(","):
    if variant == "quick":
      q.train_photos = ("astronaut", "chelsea", "camera")
      q.train_clips = ("bikes",)
      q.test_photos = ("coffee",)
      q.test_clips = ()
      q.clip_frames, q.panzoom_frames, q.train_crops, q.test_crops = 4, 2, 1, 2
      q.encodes_per_image = 6
      q.eval_qfs = (5, 20, 40, 60, 75, 90)
      q.steps = q.h264_steps = 60
    elif variant == "regression":
      q.head = "regression"
    elif variant == "six_class":
      # The previous recipe: Pillow 4:2:0 at exactly the six class QFs, every image at each.
      q.jpeg_encoders, q.subsamplings = ("pillow",), ("4:2:0",)
      q.train_qf_grid = q.jpeg_qfs
      q.encodes_per_image = len(q.jpeg_qfs)
      q.head = ""
      q.steps = 400
    elif variant:
      raise ValueError(f"Unknown variant {variant!r}; use quick, regression, six_class (or "
                       "nothing), comma-separated.")
  return c
