"""A look at what the pretrained networks see: VGG-16 maps and FID features of real frames.

Used by the main job's ``features`` stage: it reads a few real sample frames, runs VGG-16 to the
LPIPS taps and the FID InceptionV3 to pool3, and saves a picture of the most active VGG channels.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from jaxenhance import assets, atomic_write, cloud


def sample_frames(size: int = 224) -> tuple[list[str], np.ndarray]:
  """Real frames: the first frame of each sample clip and one photo, centre-cropped square."""
  names, frames = [], []
  for clip in ("bikes", "carphone", "bigbuckbunny"):
    with av.open(str(assets.sample_clip_path(clip))) as container:
      frames.append(next(container.decode(video=0)).to_ndarray(format="rgb24"))
    names.append(clip)
  frames.append(assets.sample_photo("astronaut"))
  names.append("astronaut")
  out = []
  from PIL import Image

  for frame in frames:
    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(frame[top:top + side, left:left + side])
    out.append(np.asarray(crop.resize((size, size), Image.Resampling.BOX)))
  return names, np.stack(out)


def plot_vgg_maps(names: list[str], images: np.ndarray, taps: dict[str, np.ndarray],
                  path: Path) -> None:
  """One row per image: the image, then the most active channel of each tap."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  cols = 1 + len(taps)
  fig, axes = plt.subplots(len(names), cols, figsize=(2.2 * cols, 2.2 * len(names)))
  for row, name in enumerate(names):
    axes[row, 0].imshow(images[row])
    axes[row, 0].set_title(name, fontsize=8)
    for col, (tap, maps) in enumerate(taps.items(), start=1):
      channel = int(np.argmax(maps[row].mean(axis=(0, 1))))
      axes[row, col].imshow(maps[row, :, :, channel], cmap="magma")
      axes[row, col].set_title(f"{tap} ch{channel}", fontsize=8)
  for ax in axes.ravel():
    ax.axis("off")
  fig.tight_layout()
  with atomic_write.outputs(path) as (tmp,):  # a local file, uploaded for a gs:// path
    fig.savefig(tmp, dpi=80, format="png")
  plt.close(fig)


def describe_sample_features(workdir: Path) -> dict:
  import jax.numpy as jnp

  from jaxenhance.models import vgg

  names, images = sample_frames()
  params = vgg.load_params()
  taps = vgg.extract(params, jnp.asarray(images, jnp.float32) / 255.0, vgg.LPIPS_LAYERS)
  taps = {k: np.asarray(v) for k, v in taps.items()}
  picture = cloud.path(workdir) / "vgg_feature_maps.png"
  plot_vgg_maps(names, images, taps, picture)
  result = {"frames": names, "vgg_taps": {k: list(v.shape) for k, v in taps.items()},
            "vgg_picture": str(picture)}
  try:
    from jaxenhance.models import inception
  except ImportError:
    result["fid_features"] = "skipped: models/inception.py not in this checkout"
    return result
  features = np.asarray(inception.extract_pool3(inception.load_params(), images))
  result["fid_features"] = {"shape": list(features.shape),
                            "mean_norm": float(np.linalg.norm(features, axis=1).mean())}
  return result
