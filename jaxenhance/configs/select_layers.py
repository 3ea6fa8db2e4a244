r"""Perceptual layer selection of VGG-16 (README: "Perceptual layer selection").

Commands:
  python -m jaxenhance.select_layers --config=configs/select_layers.py --workdir=workdir/select
  python -m jaxenhance.select_layers --config=configs/select_layers.py:quick --workdir=/tmp/sel
  python -m jaxenhance.select_layers --config=configs/select_layers.py:inception \
      --workdir=workdir/select_inception
Overrides: --config.selection.ppd=64 --config.selection.top_k=4 --config.selection.csf=barten
Hardware: CPU is enough. Expected time on a 2-core CPU: the default probe (1,280 gratings of
224x224 through VGG-16 to relu5_3) takes a few minutes once and is then cached by its parameters
(rescoring with another ppd/CSF/k takes seconds); `quick` takes ~10 s; `inception` (299x299,
FID InceptionV3) a few minutes.

Values not given by the source papers (ppd 32, 20 frequencies x 16 orientations, central half
crop, 1 % responsiveness threshold, top-3) are the project's choices.
"""

import importlib.util
from pathlib import Path

import ml_collections


def _default_config() -> ml_collections.ConfigDict:
  # Loaded by path so this file works from any directory (config files are not a package).
  spec = importlib.util.spec_from_file_location("_jaxenhance_default_config",
                                                Path(__file__).with_name("default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _default_config()
  s = c.selection  # network, size, num_freqs, num_orients, ppd, csf, top_k, threshold, report
  s.layers = "default"  # "default" (VGG-16: the 13 ReLU layers), "all", or "relu1_2,relu3_3"
  s.f_min = 0.0  # cycles/pixel; 0: 1/size (one cycle across the image)
  s.f_max = 0.5  # cycles/pixel; at most 0.5 (Nyquist)
  s.contrast = 1.0
  s.crop_fraction = 0.5  # central crop of each feature map (borders see the zero padding)
  s.batch_size = 16  # images per jitted call (4 phases x 4 conditions)
  s.barten_luminance = 100.0  # cd/m^2, Barten CSF only
  s.barten_field_deg = 0.0  # 0: size / ppd
  s.abs_tol = 1e-6  # a channel is unresponsive if its peak response is <= abs_tol ...
  s.rel_tol = 0.01  # ... or <= rel_tol x the layer's strongest channel
  s.cache_dir = ""  # "" : <asset cache>/probes, shared by every work directory
  if arg == "quick":
    s.size, s.num_freqs, s.num_orients, s.layers = 64, 12, 8, "relu1_2,relu2_2,relu3_3"
    s.top_k = 2
  elif arg == "inception":
    s.network, s.size, s.layers, s.top_k = "inception_v3", 299, "default", 3
  elif arg:
    raise ValueError(f"Unknown variant {arg!r}; use quick or inception.")
  return c
