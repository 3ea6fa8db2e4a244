r"""Train and evaluate the quality predictor (``models/qf.py``) on real compressed images.

  python -m jaxenhance.qf_train --workdir=workdir [--codec=jpeg|h264] [--config=configs/qf.py]

Writes into ``<workdir>/qf/<codec>/``: the predictor (``predictor.msgpack`` + ``predictor.json``,
read by ``qf.load_predictor``) and its evaluation on held-out sources. JPEG: ``fullrange.md``,
``.json`` and ``.png`` (``qf_eval``: error and routing at every QF of ``qf.eval_qfs`` for every
encoder; ``benchmarks/qf_fullrange.py`` puts several runs side by side). H.264:
``confusion.png`` (image- and patch-level confusion matrices), ``confusion.md`` and
``confusion.json`` (counts, per-class accuracy, data and timing).

Data: every training/test image (a photo, a random crop of one, a frame of a real clip or of a
pan/zoom clip over a photo) is compressed whole, then patches are cut at grid-aligned positions.
JPEG: ``qf.encodes_per_image`` encodes of each training image, each by a random encoder (Pillow,
FFmpeg's mjpeg) at a random quality of QF 5-95, labelled with the quality the file's own tables
give (``jpeg_quality``); the network estimates the quality (``qf.QualityHead``). H.264: x264 at
random QPs inside each bin (``codecs.round_trip``), the network outputs the bins. Test images
come from sources that are not in training. Image-level results (outputs averaged over the most
textured patches, what routing uses) are the headline numbers.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import app, flags, logging
from ml_collections import config_flags

from jaxenhance import (
    assets,
    atomic_write,
    cloud,
    codecs,
    config_loader,
    errors,
    jpeg_encoders,
    qf_eval,
)
from jaxenhance.data import sources
from jaxenhance.models import qf

_CONFIG = config_flags.DEFINE_config_file(
    "config", str(config_loader.config_path("qf")), "Quality-predictor config.")
_WORKDIR = flags.DEFINE_string("workdir", "workdir", "Work directory.")
_CODEC = flags.DEFINE_enum("codec", None, ["jpeg", "h264"], "Overrides config.qf.codec.")


# ---------------------------------------------------------------------------------------------
# Sources: (source id, uint8 frames [T, H, W, 3]) groups. T = 1 for photos and their crops.
# ---------------------------------------------------------------------------------------------

def load_skimage_photo(name: str, jpeg_coded: Sequence[str]) -> np.ndarray:
  """A real RGB photo from scikit-image's bundled data (gray replicated), area-downscaled 2x if it
  is stored as JPEG there."""
  if name in assets.SAMPLE_PHOTOS:
    image = assets.sample_photo(name)
  else:
    import skimage.data  # the wheel ships these files; nothing is downloaded
    loader = getattr(skimage.data, name, None)
    if loader is None:
      raise sources.SourceError(f"'{name}' is not an image of skimage.data.")
    image = loader()
    image = np.asarray(image[0] if isinstance(image, tuple) else image)
    if image.ndim == 2:
      image = np.repeat(image[..., None], 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3]).astype(np.uint8)
  if name in jpeg_coded:
    h, w = image.shape[:2]
    image = sources.area_resize(image, (h // 2, w // 2))
  return image


def _random_crops(image: np.ndarray, num: int, lo: int, hi: int,
                  rng: np.random.Generator) -> list[np.ndarray]:
  h, w = image.shape[:2]
  crops = []
  for _ in range(num):
    ch = int(rng.integers(lo, min(hi, h) + 1)) if h > lo else h
    cw = int(rng.integers(lo, min(hi, w) + 1)) if w > lo else w
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crops.append(np.ascontiguousarray(image[y:y + ch, x:x + cw]))
  return crops


def _clip_frames(name: str, num: int, spread: bool) -> tuple[np.ndarray, float]:
  """``num`` frames of a sample clip (downscaled 2x): spread over the clip, or consecutive."""
  clip = sources.sample_clip(name)
  frames = clip.frames
  if spread:
    frames = frames[np.linspace(0, len(frames) - 1, num).round().astype(int)]
  else:
    frames = frames[:num]
  return frames, clip.fps


def build_split(q: Any, split: str, video: bool, seed: int) -> list[tuple[str, np.ndarray, float]]:
  """The split's groups: (source id, uint8 frames [T, H, W, 3], fps).

  JPEG: every photo, crop and clip frame is its own group of one frame. Video: groups are clips
  (the sample clip, or a pan/zoom clip over each photo), since the codec predicts across frames.
  """
  rng = np.random.default_rng([seed, 0 if split == "train" else 1])
  photos = q.train_photos if split == "train" else q.test_photos
  clips = q.train_clips if split == "train" else q.test_clips
  crops = q.train_crops if split == "train" else q.test_crops
  groups = []
  for name in photos:
    image = load_skimage_photo(name, q.jpeg_coded_photos)
    size = sources.photo_frame_size(image.shape, q.panzoom_height)
    if video:
      n = 2 * q.panzoom_frames
      clip = sources.photo_clip(image, n, size, seed=int(rng.integers(1 << 30)))
      groups.append((f"photo:{name}", clip.frames, clip.fps))
      continue
    groups.append((f"photo:{name}", image[None], 25.0))
    for crop in _random_crops(image, crops, *q.crop_range, rng):
      groups.append((f"photo:{name}", crop[None], 25.0))
    if image.shape[-1] == 3 and not np.array_equal(image[..., 0], image[..., 1]):
      clip = sources.photo_clip(image, q.panzoom_frames, size, seed=int(rng.integers(1 << 30)))
      groups.extend((f"photo:{name}", f[None], 25.0) for f in clip.frames)
  for name in clips:
    frames, fps = _clip_frames(name, q.clip_frames, spread=not video)
    if video:
      groups.append((f"sample:{name}", frames, fps))
    else:
      groups.extend((f"sample:{name}", f[None], fps) for f in frames)
  return groups


def check_groups_disjoint(train: Sequence[tuple], test: Sequence[tuple]) -> None:
  shared = sorted({g[0] for g in train} & {g[0] for g in test})
  if shared:
    raise sources.SourceError(f"sources {shared} are in both train and test; a source may only "
                              "be in one split (edit qf.train_photos/test_photos/train_clips/"
                              "test_clips).")


# ---------------------------------------------------------------------------------------------
# Compression: every group at every class.
# ---------------------------------------------------------------------------------------------

def make_classes(q: Any) -> qf.QualityClasses:
  if q.codec == "jpeg":
    return qf.QualityClasses.jpeg(q.jpeg_qfs)
  if q.codec == "h264":
    return qf.QualityClasses.bins("h264", "qp", q.h264_bins, q.h264_values)
  raise ValueError(f"qf.codec must be 'jpeg' or 'h264'; got {q.codec!r}.")


def make_head(q: Any) -> qf.QualityHead | None:
  """The JPEG predictor's head (``q.head``); None where the network outputs the classes."""
  if q.codec != "jpeg" or not q.head:
    return None
  return qf.QualityHead(q.head, tuple(q.head_qfs) if q.head == "classes" else ())


def settings_for(q: Any, classes: qf.QualityClasses, label: int, count: int,
                 rng: np.random.Generator) -> list[codecs.EncodeSettings]:
  """Encoder settings for class ``label``: the exact QF, or ``count`` random QPs of the bin."""
  if classes.codec == "jpeg":
    return [codecs.EncodeSettings("jpeg", "qf", classes.values[label])]
  lo, hi = classes.ranges[label]
  qps = rng.choice(np.arange(lo, hi + 1), size=min(count, hi - lo + 1), replace=False)
  return [codecs.EncodeSettings(classes.codec, classes.param, int(v), preset=q.h264_preset,
                                gop=q.h264_gop) for v in sorted(qps)]


def compress_split(q: Any, groups, classes: qf.QualityClasses, qps_per_bin: int,
                   seed: int) -> Iterator[tuple[int, int, np.ndarray]]:
  """Yields (label, image id, decoded uint8 frame [H, W, 3]) for every class and frame."""
  rng = np.random.default_rng(seed)
  image_id = 0
  for _, frames, fps in groups:
    for label in range(classes.num_classes):
      for setting in settings_for(q, classes, label, qps_per_bin, rng):
        decoded = codecs.round_trip(frames, fps, setting).frames
        for frame in decoded:
          yield label, image_id, frame
          image_id += 1


@dataclasses.dataclass(frozen=True)
class JpegDraw:
  """One JPEG encode: the encoder, the quality asked for (mjpeg: the nearest it can reach) and
  the chroma subsampling."""
  encoder: str
  quality: int
  subsampling: str = "4:2:0"


def jpeg_draws(q: Any, rng: np.random.Generator) -> list[JpegDraw]:
  """The ``q.encodes_per_image`` encodes of one training image: each an encoder of
  ``q.jpeg_encoders``, a quality uniform over the integers of ``q.train_qf_range`` (with
  ``q.train_qf_grid``: the grid shuffled, every value once before any repeats) and a subsampling
  of ``q.subsamplings`` (mjpeg: 4:2:0, all it writes)."""
  n = int(q.encodes_per_image)
  if q.train_qf_grid:
    grid = np.asarray(q.train_qf_grid)
    qualities = np.concatenate([rng.permutation(grid) for _ in range(-(-n // len(grid)))])[:n]
  else:
    lo, hi = q.train_qf_range
    qualities = rng.integers(lo, hi + 1, n)
  draws = []
  for encoder, quality in zip(rng.choice(list(q.jpeg_encoders), n), qualities):
    subsampling = "4:2:0" if encoder == "mjpeg" else str(rng.choice(list(q.subsamplings)))
    draws.append(JpegDraw(str(encoder), int(quality), subsampling))
  return draws


def jpeg_patch_dataset(q: Any, groups, classes: qf.QualityClasses, head: qf.QualityHead | None,
                       seed: int) -> dict[str, Any]:
  """Encodes every training image ``q.encodes_per_image`` times (``jpeg_draws``) and cuts
  patches: patches [M,P,P,3], targets [M,K] (the head's, or one-hot of the nearest class),
  qualities [M] (read from each file's tables), axis [M] (``qf.qf_axis``), encoders [M]."""
  rng = np.random.default_rng([seed, 7])
  patches, qualities, encoders = [], [], []
  for _, frames, _ in groups:
    for frame in frames:
      for draw in jpeg_draws(q, rng):
        coded = jpeg_encoders.round_trip(frame, draw.encoder, draw.quality, draw.subsampling, rng)
        cut = cut_patches(coded.decoded, q.patches_per_image, q.patch_size, q.align,
                          q.min_patch_std, rng)
        patches.append(cut)
        qualities.append(np.full(len(cut), coded.quality))
        encoders.append(np.full(len(cut), draw.encoder))
  qualities = np.concatenate(qualities)
  if head is not None:
    targets = head.targets(qualities)
  else:
    labels = np.asarray([classes.nearest(v) for v in qualities])
    targets = np.eye(classes.num_classes, dtype=np.float32)[labels]
  return {"patches": np.concatenate(patches), "targets": targets, "qualities": qualities,
          "axis": qf.qf_axis(qualities).astype(np.float32),
          "encoders": np.concatenate(encoders)}


def cut_patches(frame: np.ndarray, num: int, patch: int, align: int, min_std: float,
                rng: np.random.Generator) -> np.ndarray:
  """``num`` random grid-aligned patches, preferring those with luma std >= ``min_std``."""
  pos = qf.grid_positions(frame.shape[0], frame.shape[1], patch, align)
  patches = np.stack([frame[y:y + patch, x:x + patch] for y, x in pos])
  textured = np.flatnonzero(qf.luma_std(patches) >= min_std)
  pool = textured if len(textured) else np.arange(len(patches))
  return patches[rng.choice(pool, size=min(num, len(pool)), replace=False)]


def patch_dataset(q: Any, groups, classes, qps_per_bin: int, seed: int, keep_images: bool
                  ) -> dict[str, Any]:
  """Compresses every group and cuts patches: patches [M,P,P,3], labels [M], image ids [M], and
  (``keep_images``) the decoded images with their labels for image-level evaluation."""
  rng = np.random.default_rng([seed, 7])
  patches, labels, ids, images, image_labels = [], [], [], [], []
  for label, image_id, frame in compress_split(q, groups, classes, qps_per_bin, seed):
    cut = cut_patches(frame, q.patches_per_image, q.patch_size, q.align, q.min_patch_std, rng)
    patches.append(cut)
    labels.append(np.full(len(cut), label))
    ids.append(np.full(len(cut), image_id))
    if keep_images:
      images.append(frame)
      image_labels.append(label)
  return {"patches": np.concatenate(patches), "labels": np.concatenate(labels),
          "ids": np.concatenate(ids), "images": images, "image_labels": np.asarray(image_labels)}


# ---------------------------------------------------------------------------------------------
# Training.
# ---------------------------------------------------------------------------------------------

# Huber threshold of the regression head on qf_axis: about QF 50 -> 55, so the loss is L1-like
# beyond one grid step and a few mislabelled-looking patches do not dominate.
_HUBER_DELTA = 0.05


def make_train_step(net: qf.QualityNet, tx: optax.GradientTransformation,
                    head: qf.QualityHead | None = None):
  """The jitted step ``(params, opt_state, x, targets, axis) -> (params, opt_state, loss,
  metric)``: metric is patch accuracy without a head, else the mean |error| on ``qf_axis``."""
  def loss_fn(params, x, targets, axis):
    outputs = net.apply(params, x)
    if head is not None and head.kind == "regression":
      loss = optax.huber_loss(outputs[:, 0], targets[:, 0], delta=_HUBER_DELTA).mean() / _HUBER_DELTA
    else:
      loss = optax.softmax_cross_entropy(outputs, targets).mean()
    if head is None:
      return loss, (outputs.argmax(-1) == targets.argmax(-1)).mean()
    return loss, jnp.abs(head.axis(outputs) - axis).mean()

  @jax.jit
  def step(params, opt_state, x, targets, axis):
    (loss, metric), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, targets, axis)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss, metric

  return step


def _augment(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Random flips of the batch. P is a multiple of 8, so the block grid stays aligned; no
  transposes, since JPEG's quantisation tables are not symmetric."""
  if rng.random() < 0.5:
    batch = batch[:, :, ::-1]
  if rng.random() < 0.5:
    batch = batch[:, ::-1]
  return np.ascontiguousarray(batch)


def train(q: Any, data: dict[str, Any], classes: qf.QualityClasses, seed: int,
          log=logging.info, head: qf.QualityHead | None = None) -> qf.Predictor:
  """Trains a ``QualityNet`` with Adam(W) and a cosine schedule on the training patches.

  ``data`` holds ``patches`` and either ``targets`` [M, K] (+ ``axis`` [M] with a head) or
  integer class ``labels`` [M].
  """
  stem = q.stem or ("dct" if classes.codec == "jpeg" else "pixels")
  outputs = head.num_outputs if head else classes.num_classes
  net = qf.QualityNet(num_classes=outputs, stem=stem, widths=tuple(q.widths),
                      dense=q.dense, channels=q.channels, max_step=q.max_step)
  params = jax.jit(net.init)(jax.random.key(seed),
                             jnp.zeros((1, q.patch_size, q.patch_size, 3), jnp.float32))
  schedule = optax.warmup_cosine_decay_schedule(0.0, q.lr, min(100, q.steps // 10 + 1), q.steps)
  tx = optax.adamw(schedule, weight_decay=q.weight_decay)
  opt_state = tx.init(params)
  step_fn = make_train_step(net, tx, head)
  rng = np.random.default_rng([seed, 1])
  patches = data["patches"]
  targets = data.get("targets")
  if targets is None:
    targets = np.eye(outputs, dtype=np.float32)[data["labels"]]
  axis = data.get("axis", np.zeros(len(patches), np.float32))
  metric_name = "patch accuracy" if head is None else "patch |error| on qf_axis"
  losses, metrics = [], []
  for step in range(1, q.steps + 1):
    idx = rng.integers(0, len(patches), q.batch_size)
    x = jnp.asarray(_augment(patches[idx], rng), jnp.float32) / 255.0
    params, opt_state, loss, metric = step_fn(params, opt_state, x, jnp.asarray(targets[idx]),
                                              jnp.asarray(axis[idx]))
    losses.append(loss)
    metrics.append(metric)
    if step % q.log_every == 0 or step == q.steps:
      log(f"step {step}/{q.steps}: loss {float(np.mean(losses)):.3f}, "
          f"train {metric_name} {float(np.mean(metrics)):.3f}")
      losses, metrics = [], []
  return qf.Predictor(net, params, classes, q.patch_size, q.num_patches, q.align, head=head)


# ---------------------------------------------------------------------------------------------
# Evaluation: confusion matrices.
# ---------------------------------------------------------------------------------------------

def confusion(true: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
  """Counts [true class, predicted class]."""
  matrix = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(matrix, (true, pred), 1)
  return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
  return np.diag(matrix) / np.maximum(matrix.sum(1), 1)


def evaluate(predictor: qf.Predictor, test: dict[str, Any]) -> dict[str, Any]:
  """Image-level (averaged textured patches) and patch-level confusion matrices on ``test``."""
  c = predictor.classes.num_classes
  patch_pred = predictor.patch_logits(test["patches"]).argmax(-1)
  # Image by image: sizes differ, and this is exactly the routing path (Predictor.predict_class).
  image_pred = np.asarray([predictor.predict_class(im[None])[0][0] for im in test["images"]])
  out = {}
  for level, true, pred in [("image", test["image_labels"], image_pred),
                            ("patch", test["labels"], patch_pred)]:
    matrix = confusion(true, pred, c)
    out[level] = {"confusion": matrix.tolist(),
                  "per_class_accuracy": per_class_accuracy(matrix).round(4).tolist(),
                  "accuracy": round(float(np.trace(matrix) / matrix.sum()), 4),
                  "count": int(matrix.sum())}
  return out


def markdown(results: dict[str, Any], labels: list[str], title: str) -> str:
  lines = [f"# {title}", ""]
  for level in ("image", "patch"):
    r = results[level]
    what = ("image level: logits averaged over the most textured patches of each image"
            if level == "image" else "patch level: one patch each")
    lines += [f"## {what} ({r['count']} samples, accuracy {100 * r['accuracy']:.1f} %)", "",
              "| true \\ predicted | " + " | ".join(labels) + " | accuracy |",
              "|---" * (len(labels) + 2) + "|"]
    for i, row in enumerate(r["confusion"]):
      lines.append(f"| **{labels[i]}** | " + " | ".join(str(v) for v in row) +
                   f" | {100 * r['per_class_accuracy'][i]:.1f} % |")
    lines.append("")
  return "\n".join(lines)


def plot(results: dict[str, Any], labels: list[str], title: str, path: Path) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(11, 5))
  for ax, level in zip(axes, ("image", "patch")):
    matrix = np.asarray(results[level]["confusion"], np.float64)
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
      for j in range(len(labels)):
        ax.text(j, i, f"{100 * norm[i, j]:.0f}%\n({int(matrix[i, j])})", ha="center",
                va="center", fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{level} level, accuracy {100 * results[level]['accuracy']:.1f} %")
  fig.suptitle(title)
  fig.tight_layout()
  with atomic_write.outputs(path) as (tmp,):  # a local file, uploaded for a gs:// path
    fig.savefig(tmp, dpi=110, format="png")
  plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The command.
# ---------------------------------------------------------------------------------------------

def run(config: Any, workdir: str | Path, log=logging.info) -> dict[str, Any]:
  """Builds the data, trains, evaluates, writes the predictor and its evaluation."""
  q = config.qf
  seed = int(config.seed)
  classes = make_classes(q)
  head = make_head(q)
  video = classes.codec != "jpeg"
  if video:  # the QP bins keep their own, shorter schedule
    q = q.copy_and_resolve_references()
    q.steps = q.h264_steps
  out = cloud.path(workdir) / "qf" / classes.codec  # local or gs://
  timing = {}

  # ------------------------------------------------------------------ data
  start = time.perf_counter()
  train_groups = build_split(q, "train", video, seed)
  test_groups = build_split(q, "test", video, seed)
  check_groups_disjoint(train_groups, test_groups)
  if video:
    train_data = patch_dataset(q, train_groups, classes, q.qps_per_bin, seed, keep_images=False)
    test_data = patch_dataset(q, test_groups, classes, 1, seed + 1, keep_images=True)
    test_info = {"test_images": len(test_data["images"]),
                 "test_patches": len(test_data["patches"])}
  else:
    train_data = jpeg_patch_dataset(q, train_groups, classes, head, seed)
    test_frames = [frame for _, frames, _ in test_groups for frame in frames]
    encoders = [e for e in q.eval_encoders if jpeg_encoders.available(e)]
    test_info = {"test_images": len(test_frames), "eval_encoders": encoders,
                 "eval_qfs": list(q.eval_qfs)}
  timing["data_s"] = round(time.perf_counter() - start, 1)
  log(f"data: {len(train_data['patches'])} training patches from {len(train_groups)} groups in "
      f"{timing['data_s']} s; test: {test_info}")

  # ------------------------------------------------------------------ training
  start = time.perf_counter()
  predictor = train(q, train_data, classes, seed, log, head)
  timing["train_s"] = round(time.perf_counter() - start, 1)

  # ------------------------------------------------------------------ evaluation
  start = time.perf_counter()
  if video:
    results = evaluate(predictor, test_data)
    headline = {k: v["per_class_accuracy"] for k, v in results.items()}
  else:
    results = qf_eval.evaluate(predictor, test_frames, encoders, q.eval_qfs, log)
    headline = {e: s["totals"] for e, s in qf_eval.summarise(results).items()}
  timing["eval_s"] = round(time.perf_counter() - start, 1)

  # ------------------------------------------------------------------ outputs
  data_info = {"train_sources": sorted({g[0] for g in train_groups}),
               "test_sources": sorted({g[0] for g in test_groups}),
               "train_patches": len(train_data["patches"]), **test_info}
  predictor.metadata = {"config": q.to_dict(), "seed": seed, "data": data_info,
                        "test": headline, "timing": timing,
                        "versions": {"jax": jax.__version__}}
  qf.save_predictor(out, predictor)
  title = f"{classes.codec} quality predictor on held-out real images"
  if video:
    labels = classes.labels
    (out / "confusion.md").write_text(markdown(results, labels, title))
    (out / "confusion.json").write_text(json.dumps(
        {"labels": labels, **results, "data": data_info, "timing": timing}, indent=1))
    plot(results, labels, title, out / "confusion.png")
  else:
    runs = {q.head or "six-class": results}
    written_by = (f"Written by `python -m jaxenhance.qf_train` (config and data in "
                  f"`predictor.json`); timing: {timing}.")
    header = [written_by]
    (out / "fullrange.md").write_text(qf_eval.markdown(runs, title, header))
    (out / "fullrange.json").write_text(json.dumps(
        {"runs": runs, "data": data_info, "timing": timing, "config": q.to_dict()}))
    qf_eval.plot(runs, title, out / "fullrange.png")
  return {"dir": str(out), "codec": classes.codec, "labels": classes.labels,
          "results": results, "headline": headline, "timing": timing, "data": data_info}


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = _CONFIG.value
  if _CODEC.value:
    config.qf.codec = _CODEC.value
  start = time.perf_counter()
  try:
    summary = run(config, _WORKDIR.value, log=print)
  except errors.USER_ERRORS as exc:
    errors.exit_on_error("qf-train", exc)
  if summary["codec"] == "jpeg":
    for encoder, totals in summary["headline"].items():
      print(f"{encoder}: " + ", ".join(
          f"QF {part}: MAE {t['mae']:.1f}, routed as expected {100 * t['right']:.1f}%, lower "
          f"{100 * t['lower']:.1f}%" for part, t in totals.items()))
    written = "predictor, fullrange.png/.md/.json"
  else:
    for level in ("image", "patch"):
      r = summary["results"][level]
      accs = ", ".join(f"{label} {100 * a:.1f}%" for label, a in zip(
          summary["labels"], r["per_class_accuracy"]))
      print(f"{level}-level accuracy {100 * r['accuracy']:.1f}% ({r['count']}): {accs}")
    written = "predictor, confusion.png/.md/.json"
  print(f"wrote {summary['dir']} ({written}) in {time.perf_counter() - start:.0f} s")


def cli() -> None:
  """The program (``jaxenhance qf-train`` or ``python -m jaxenhance.qf_train``)."""
  sys.argv = config_loader.expand_config_flags(sys.argv)
  app.run(main)


if __name__ == "__main__":
  cli()
