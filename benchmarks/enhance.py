"""Enhancement throughput (JAX vs the same network in PyTorch) and flat memory on long clips.

  ./launch/setup.sh --bench && .venv/bin/python benchmarks/enhance.py \
      [--sizes 640x360,1280x720] [--repeats 3] [--rss-frames 300,1200] [--skip-rss] \
      [--markdown benchmarks/results/enhance.md]

1. Generator throughput, frames/s at batch 1: the default generator (residual, width 64,
   2 scales, 8 blocks) and the fast one (width 32, inverted residuals) as a jitted Flax apply of
   ``models/generator.py``, with ``conv_impl="auto"`` as enhancing uses it (Winograd residual
   blocks on CPU; a ``conv_impl=xla`` row shows the native convolution), vs a PyTorch CPU
   eager module written here to mirror it (same weights, parameter counts checked equal, outputs
   checked close on real footage), timed in alternation in the same process. Target (issue 7 item 5): JAX >= 1.3x PyTorch. The fast generator also
   gets a row with ``depthwise_impl="grouped_conv"`` (XLA's grouped convolution, the library's
   implementation before the shift-and-add default) to show what that choice is worth on CPU.
   The torch mirror is plain eager PyTorch (``F.interpolate`` then ``conv2d``, grouped
   ``conv2d`` for depthwise); the library folds the residual kind's upsampling into its first
   decoder conv (``UpsampleConv3x3``), which the mirror does not.
2. The whole ``enhance_video`` path (decode, tiles, model, x264 encode) at the first size with
   the fast generator, frames/s.
3. Peak RSS of ``enhance_video`` on synthetic clips of each ``--rss-frames`` length (small size,
   fast generator), each in its own subprocess: frames are streamed, so it must stay flat.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import time_interleaved

from jaxenhance import assets, enhance, export, inference, video_io
from jaxenhance.models import generator as generator_lib

REPORT: list[str] = []


def say(text: str) -> None:
  """Prints and keeps the line for the --markdown report."""
  print(text, flush=True)
  REPORT.append(text)


CONFIGS = {
    "default": {"kind": "residual", "width": 64, "num_scales": 2, "num_blocks": 8},
    "fast": {"kind": "fast", "width": 32, "num_scales": 2, "num_blocks": 8},
}
# The long-clip runs measure the pipeline's memory, not the network's speed: a network small
# enough that 1,200 frames of 720p take minutes on 2 cores.
TINY = {"kind": "fast", "width": 8, "num_scales": 2, "num_blocks": 2}

# Rows for the implementations the library does not use by default on CPU: what each choice is
# worth. Labels are "<attribute>__<value>".
ALTERNATIVES = {
    "residual": {"conv_impl__xla": {"conv_impl": "xla"}},
    "fast": {"depthwise_impl__grouped_conv": {"depthwise_impl": "grouped_conv"}},
}


def random_params(generator, seed: int = 0, scale: float = 0.03):
  """Weights of the right shapes (numpy; the values do not change the cost)."""
  shapes = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                          np.zeros((1, generator.temporal_window, 16, 16, 3), np.float32))
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: (scale * rng.standard_normal(s.shape)).astype(np.float32),
                      shapes)


# ---------------------------------------------------------------------------------------------
# The same network in PyTorch.
# ---------------------------------------------------------------------------------------------

def torch_generator(generator: generator_lib.Generator, params):
  """A torch module mirroring ``generator`` (eval mode) with ``params`` copied in."""
  import torch
  from torch import nn
  from torch.nn import functional as F

  widths = [generator.width * generator.channel_multiplier ** s
            for s in range(generator.num_scales + 1)]
  fast = generator.kind == "fast"
  t = generator.temporal_window

  def conv(cin, cout, k=3, stride=1, groups=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=0 if stride > 1 else k // 2,
                     groups=groups)

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      self.stem = conv(3 * t, widths[0])
      self.down = nn.ModuleList(conv(widths[s - 1], widths[s], stride=2)
                                for s in range(1, generator.num_scales + 1))
      c, h = widths[-1], widths[-1] * generator.expansion
      self.blocks = nn.ModuleList(
          nn.ModuleList([conv(c, h, 1), conv(h, h, groups=h), conv(h, c, 1)]) if fast else
          nn.ModuleList([conv(c, c), conv(c, c)]) for _ in range(generator.num_blocks))
      self.up = nn.ModuleList()
      cin = widths[-1]
      for s in range(generator.num_scales - 1, -1, -1):
        for _ in range(2):
          self.up.append(nn.ModuleList([conv(cin, cin, groups=cin), conv(cin, widths[s], 1)])
                         if fast else nn.ModuleList([conv(cin, widths[s])]))
          cin = widths[s]
      self.out = conv(widths[0], 3)

    def forward(self, x):  # NCHW, [0, 1]
      h, w = x.shape[2:]
      centre = x[:, 3 * (t // 2):3 * (t // 2) + 3]
      m = generator.stride
      x = F.pad(x, (0, -w % m, 0, -h % m), mode="reflect")
      x = F.relu(self.stem(x))
      for d in self.down:  # Flax SAME at stride 2 on even sizes pads bottom/right only
        x = F.relu(d(F.pad(x, (0, 1, 0, 1))))
      for block in self.blocks:
        if fast:
          y = F.relu6(block[0](x))
          y = F.relu6(block[1](y))
          x = x + block[2](y)
        else:
          x = x + block[1](F.relu(block[0](x)))
      for i, layers in enumerate(self.up):
        if i % 2 == 0:
          x = F.interpolate(x, scale_factor=2, mode="nearest")
        for layer in layers:
          x = layer(x)
        x = F.relu(x)
      return torch.clamp(centre + self.out(x)[:, :, :h, :w], 0.0, 1.0)

  net = Net().eval()
  p = params["params"]
  flax_convs = [p["stem"]] + [p[f"down{s}"] for s in range(1, generator.num_scales + 1)]
  for b in range(generator.num_blocks):
    flax_convs += [p[f"block{b}"][f"Conv_{i}"] for i in range(3 if fast else 2)]
  for s in range(generator.num_scales - 1, -1, -1):
    for i in range(2):
      layer = p[f"up{s}_{i}"]
      flax_convs += [layer["Conv_0"], layer["Conv_1"]] if fast else [layer]
  flax_convs.append(p["out"])
  torch_convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
  assert len(torch_convs) == len(flax_convs), (len(torch_convs), len(flax_convs))
  for tc, fc in zip(torch_convs, flax_convs):
    kernel = np.asarray(fc["kernel"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW (depthwise: C,1,3,3)
    assert tuple(tc.weight.shape) == kernel.shape, (tc.weight.shape, kernel.shape)
    tc.weight.data = torch.from_numpy(np.ascontiguousarray(kernel))
    tc.bias.data = torch.from_numpy(np.asarray(fc["bias"]).copy())
  n_torch = sum(x.numel() for x in net.parameters())
  n_flax = sum(x.size for x in jax.tree.leaves(params))
  assert n_torch == n_flax, (n_torch, n_flax)
  return net, n_flax


# ---------------------------------------------------------------------------------------------
# 1. Generator throughput.
# ---------------------------------------------------------------------------------------------

def _callables(net, jitted: dict, params, x: np.ndarray) -> dict:
  """Blocking zero-argument callables: each jitted apply on ``x`` and the torch net on it."""
  import torch

  xj, xt = jnp.asarray(x), torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()

  def run_torch():
    with torch.no_grad():
      return net(xt)

  fns = {key: (lambda fn=fn: fn(params, xj).block_until_ready()) for key, fn in jitted.items()}
  return {**fns, "torch": run_torch}


def bench_generators(sizes: list[tuple[int, int]], repeats: int) -> list[dict]:
  import torch

  say(f"jax {jax.__version__} on {jax.devices()[0].platform}, torch {torch.__version__} "
      f"({torch.get_num_threads()} threads), {os.cpu_count()} cores")
  footage, _ = video_io.read_frames(assets.sample_clip_path("bikes"), max_frames=1)
  rows = []
  for name, config in CONFIGS.items():
    # conv_impl "auto" is what enhancing uses (export.load_generator).
    generator = generator_lib.make_generator({**config, "conv_impl": "auto"})
    params = jax.device_put(random_params(generator))
    net, count = torch_generator(generator, params)
    jitted = {"jax": jax.jit(generator.apply)}
    for label, change in ALTERNATIVES[generator.kind].items():
      jitted[f"jax_{label}"] = jax.jit(dataclasses.replace(generator, **change).apply)
    # Parity on real footage (272x640 bikes frame, cropped to 96x160).
    real = footage[:, :96, :160].astype(np.float32) / 255.0
    with torch.no_grad():
      theirs = net(torch.from_numpy(real).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    ours = np.asarray(jitted["jax"](params, real))
    say(f"\n{name}: {count:,} parameters in both; the correction it adds: "
        f"mean |.| {np.abs(ours - real).mean():.3f}, max {np.abs(ours - real).max():.3f}")
    for key, fn in jitted.items():
      err = float(np.abs(np.asarray(fn(params, real)) - theirs).max())
      say(f"  {key}: max |jax - torch| = {err:.2e}")
      assert err < 1e-4, (key, err)
    for w, h in sizes:
      x = np.random.default_rng(0).random((1, h, w, 3), dtype=np.float32)
      seconds = time_interleaved(_callables(net, jitted, params, x), repeats=repeats)
      row = {"generator": name, "kind": generator.kind, "size": f"{w}x{h}",
             "load": os.getloadavg()[0],
             **{f"{k}_fps": 1 / v for k, v in seconds.items()},
             **{f"{k}_ratio": seconds["torch"] / v for k, v in seconds.items() if k != "torch"}}
      rows.append(row)
      say(f"  {w}x{h}: jax {row['jax_fps']:.3f} frames/s, torch {row['torch_fps']:.3f} "
          f"frames/s, jax/torch {row['jax_ratio']:.2f}x (target >= 1.3x); "
          f"load {row['load']:.2f}")
      for label in ALTERNATIVES[generator.kind]:
        say(f"  {w}x{h}: {label.replace('__', '=')} {row[f'jax_{label}_fps']:.3f} "
            f"frames/s, {row[f'jax_{label}_ratio']:.2f}x torch")
  return rows


# ---------------------------------------------------------------------------------------------
# 2. The enhance path at three sizes: before/after, model alone, whole pipeline.
# ---------------------------------------------------------------------------------------------

def materialised_tiled_fn(generator, plan, tile_batch: int = 4):
  """The enhance path before issue 21, kept as the 'before' peer: every tile of the batch cut
  out as one float array, the network mapped over them ``tile_batch`` at a time, all outputs
  blended at once (temporal_window 1)."""
  def fn(params, clip, weights):
    h, w = clip.shape[1:3]
    x = generator_lib.pad_to_multiple(clip.astype(jnp.float32) / 255.0, generator.stride,
                                      generator.pad_mode)
    tiles = jnp.stack([x[:, y:y + plan.tile_height, x0:x0 + plan.tile_width]
                       for y, x0 in plan.origins], axis=1)
    tiles = tiles.reshape(-1, *tiles.shape[2:])
    y = jax.lax.map(lambda t: generator.apply(params, t[None])[0], tiles, batch_size=tile_batch)
    y = y.reshape(-1, plan.num_tiles, *y.shape[1:]) * weights
    out = 0
    for i, (oy, ox) in enumerate(plan.origins):
      out = out + jnp.pad(y[:, i], ((0, 0), (oy, plan.height - oy - plan.tile_height),
                                    (ox, plan.width - ox - plan.tile_width), (0, 0)))
    return inference.to_uint8(out[:, :h, :w])
  return jax.jit(fn)


def per_frame(fn, frames: int, repeats: int) -> tuple[float, float]:
  """(seconds, minor page faults) per frame of ``fn()`` (which handles ``frames`` frames and
  blocks): the median of ``repeats`` timed calls after one warm-up (compile excluded)."""
  fn()
  times, faults = [], []
  for _ in range(repeats):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
  return sorted(times)[len(times) // 2] / frames, sorted(faults)[len(faults) // 2] / frames


def load_bench_generator(name: str):
  """'shipped' (the package's model) or a CONFIGS name with random weights."""
  if name == "shipped":
    generator, params, _ = export.load_generator("shipped")
    return generator, params
  config = TINY if name == "tiny" else CONFIGS[name]
  generator = generator_lib.make_generator({**config, "conv_impl": "auto"})
  return generator, jax.device_put(random_params(generator))


def bench_paths(tmp: Path, names: list[str], sizes: list[tuple[int, int]], repeats: int,
                pipeline_frames: int) -> list[dict]:
  say("\nenhance path per frame (compile excluded; batch 4 frames, tiles of 512 overlapping 64):"
      "\n  model alone = jitted generator.apply on the whole frame; before = every tile "
      "materialised, 4 tiles per call; after = inference.Enhancer (tiles sliced and blended in "
      "one loop, 1 tile per call); pipeline = enhance_video (decode + after + x264 crf 12) on a "
      f"{pipeline_frames}-frame clip, its Enhancer compiled beforehand")
  rows = []
  for name in names:
    generator, params = load_bench_generator(name)
    count = sum(x.size for x in jax.tree.leaves(params))
    apply = jax.jit(generator.apply)
    for w, h in sizes:
      rng = np.random.default_rng(0)
      clip = rng.integers(0, 256, (4, h, w, 3), np.uint8)
      whole = jnp.asarray(clip[:1].astype(np.float32) / 255.0)
      enhancer = inference.Enhancer(generator, params)
      plan = enhancer.plan(h, w)
      weights = jnp.asarray(plan.weights())
      old = materialised_tiled_fn(generator, plan)
      model_s, model_f = per_frame(lambda: apply(params, whole).block_until_ready(), 1, repeats)
      before_s, before_f = per_frame(
          lambda: old(params, clip, weights).block_until_ready(), 4, repeats)
      after_s, after_f = per_frame(lambda: enhancer.submit(clip).block_until_ready(), 4, repeats)
      src = write_synthetic_clip(tmp / f"path_{w}x{h}.mp4", pipeline_frames, w, h)
      summary = enhance.enhance_video(src, tmp / "path_out.mp4", generator, params,
                                      progress=False, enhancer=enhancer)
      row = {"generator": name, "params": count, "size": f"{w}x{h}", "tiles": plan.num_tiles,
             "model_fps": 1 / model_s, "before_fps": 1 / before_s, "after_fps": 1 / after_s,
             "pipeline_fps": summary["fps"], "ratio": summary["fps"] * model_s,
             "before_faults_mb": before_f * 4096 / 1e6, "after_faults_mb": after_f * 4096 / 1e6,
             "model_faults_mb": model_f * 4096 / 1e6, "load": os.getloadavg()[0]}
      rows.append(row)
      say(f"  {name} ({count:,} parameters) {w}x{h}, {plan.num_tiles} tiles: model alone "
          f"{row['model_fps']:.3f} frames/s ({row['model_faults_mb']:.0f} MB faulted/frame); "
          f"before {row['before_fps']:.3f} ({row['before_faults_mb']:.0f} MB); after "
          f"{row['after_fps']:.3f} ({row['after_faults_mb']:.0f} MB); pipeline "
          f"{row['pipeline_fps']:.3f}; pipeline / model alone {row['ratio']:.2f} (keep >= 0.9); "
          f"load {row['load']:.2f}")
  return rows


# ---------------------------------------------------------------------------------------------
# 3. Long clips: peak RSS and page faults must not grow with the clip length.
# ---------------------------------------------------------------------------------------------

def write_synthetic_clip(path: Path, frames: int, width: int, height: int) -> Path:
  """A moving textured clip written frame by frame (nothing held in memory)."""
  y, x = np.mgrid[0:height, 0:width].astype(np.float32)
  noise = np.random.default_rng(0).integers(0, 40, (height * 2, width * 2, 3), dtype=np.uint8)
  with av.open(str(path), "w") as out:
    stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "23"})
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(frames):
      wave = 100 + 80 * np.sin((x + 3 * i) / 9.0)[..., None] * np.cos((y - 2 * i) / 7.0)[..., None]
      dy, dx = i % height, (2 * i) % width
      rgb = np.clip(wave + noise[dy:dy + height, dx:dx + width], 0, 255).astype(np.uint8)
      frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
      frame.pts = i
      out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
  return path


def peak_rss_mb() -> float:
  """This process's own peak RSS.

  VmHWM belongs to the address space, so it starts afresh at exec; ru_maxrss survives exec and
  would report the parent's peak (GBs once the generator benchmarks have run).
  """
  try:
    for line in Path("/proc/self/status").read_text().splitlines():
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) / 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_enhance(name: str, src: str, dst: str) -> None:
  """Runs in a subprocess: ``enhance_video`` as the CLI runs it; prints fps, peak RSS, faults."""
  generator, params = load_bench_generator(name)
  summary = enhance.enhance_video(src, dst, generator, params, progress=False)
  print(json.dumps({"frames": summary["frames"], "fps": summary["fps"],
                    "peak_rss_mb": peak_rss_mb(),
                    "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt}))


def bench_long_clips(tmp: Path, name: str, lengths: list[int], size: tuple[int, int]
                     ) -> list[dict]:
  say(f"\nlong clips, enhance_video in a fresh process, {name} generator, {size[0]}x{size[1]}:")
  rows = []
  for n in lengths:
    src = write_synthetic_clip(tmp / f"clip{n}.mp4", n, *size)
    done = subprocess.run([sys.executable, __file__, "--child", name, str(src),
                           str(tmp / f"out{n}.mp4")], capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    rows.append(row)
    say(f"  {row['frames']:5d} frames: peak RSS {row['peak_rss_mb']:.0f} MB, "
        f"{row['faults']:,} minor page faults in all, {row['fps']:.2f} frames/s")
  growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"] - 1
  marginal = (rows[-1]["faults"] - rows[0]["faults"]) / (rows[-1]["frames"] - rows[0]["frames"])
  say(f"  from {lengths[0]} to {lengths[-1]} frames: peak RSS {100 * growth:+.1f}%, "
      f"{marginal:,.0f} page faults ({marginal * 4096 / 1e6:.1f} MB) per extra frame")
  return rows


def cpu_description() -> str:
  """CPU model and whether it has AVX-512 (absolute speeds move between such machines)."""
  try:
    info = Path("/proc/cpuinfo").read_text()
  except OSError:
    return "unknown"
  model = next((l.split(":", 1)[1].strip() for l in info.splitlines()
                if l.startswith("model name")), "unknown")
  return f"{model}, {'with' if ' avx512f' in info else 'no'} AVX-512, {os.cpu_count()} cores"


def write_markdown(path: Path, rows: list[dict], paths: list[dict], long_rows: list[dict],
                   args, load_start: tuple, seconds: float) -> None:
  """The run's command, date, load and tables, and the full log, as a results page."""
  command = " ".join([".venv/bin/python", os.path.relpath(__file__)] + sys.argv[1:])
  lines = ["# Enhancement: throughput against PyTorch, the enhance path, long clips", "",
           f"Command: `{command}`  ", f"Date: {datetime.datetime.now():%Y-%m-%d %H:%M}  ",
           f"CPU: {cpu_description()}  ",
           f"Load average (1/5/15 min) at start {'/'.join(f'{v:.2f}' for v in load_start)}, "
           f"at end {'/'.join(f'{v:.2f}' for v in os.getloadavg())}  ",
           f"Wall time {seconds / 60:.1f} min.", ""]
  if rows:
    lines += ["## The network: JAX vs PyTorch CPU eager", "",
              "Each cell is the median of the repeats; JAX and PyTorch calls alternate, so load "
              "changes hit both.", "",
              "| generator | size | JAX frames/s | PyTorch frames/s | JAX / PyTorch "
              "(target >= 1.3) | load |", "|---|---|---|---|---|---|"]
    for row in rows:
      lines.append(f"| {row['generator']} | {row['size']} | {row['jax_fps']:.3f} | "
                   f"{row['torch_fps']:.3f} | {row['jax_ratio']:.2f}x | {row['load']:.2f} |")
      for label in ALTERNATIVES[row["kind"]]:
        lines.append(f"| {row['generator']}, {label.replace('__', '=')} | {row['size']} | "
                     f"{row[f'jax_{label}_fps']:.3f} | {row['torch_fps']:.3f} | "
                     f"{row[f'jax_{label}_ratio']:.2f}x | {row['load']:.2f} |")
    lines.append("")
  if paths:
    lines += ["## The enhance path: before and after, against the model alone", "",
              "Frames/s and MB of fresh pages (minor page faults x 4 KiB) per frame, compile "
              "excluded. *Before*: every tile of a 4-frame batch materialised, 4 tiles per "
              "network call (the path before this round). *After*: `inference.Enhancer` (tiles "
              "sliced and blended inside one loop, 1 tile per call). *Pipeline*: "
              f"`enhance_video` (decode + after + x264 crf 12) on a {args.pipeline_frames}-frame "
              "clip. Ratio: pipeline / model alone (the whole frame in one jitted call).", "",
              "| generator | size | tiles | model alone | before | after | pipeline | ratio "
              "(>= 0.9) | faults/frame before -> after | load |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in paths:
      lines.append(f"| {r['generator']} ({r['params']:,}) | {r['size']} | {r['tiles']} | "
                   f"{r['model_fps']:.3f} | {r['before_fps']:.3f} | {r['after_fps']:.3f} | "
                   f"{r['pipeline_fps']:.3f} | {r['ratio']:.2f} | "
                   f"{r['before_faults_mb']:,.0f} MB -> {r['after_faults_mb']:,.0f} MB | "
                   f"{r['load']:.2f} |")
    lines.append("")
  if long_rows:
    lines += [f"## Long clips ({args.long_generator} generator, {args.long_size}, a fresh "
              "process each)", "",
              "| frames | frames/s | peak RSS | minor page faults |", "|---|---|---|---|"]
    for r in long_rows:
      lines.append(f"| {r['frames']} | {r['fps']:.2f} | {r['peak_rss_mb']:.0f} MB | "
                   f"{r['faults']:,} |")
    lines.append("")
  lines += ["## Log", "", "```", *"\n".join(REPORT).strip("\n").splitlines(), "```", ""]
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("\n".join(lines))
  print(f"wrote {path}")


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--sizes", default="640x360,1280x720", help="JAX vs PyTorch sizes")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--path-sizes", default="640x360,1280x720,1920x1080")
  parser.add_argument("--path-generators", default="shipped,default")
  parser.add_argument("--path-repeats", type=int, default=2)
  parser.add_argument("--pipeline-frames", type=int, default=8)
  parser.add_argument("--long-frames", default="300,1200")
  parser.add_argument("--long-size", default="1280x720")
  parser.add_argument("--long-generator", default="tiny",
                      help="tiny (a 2-block random network: the pipeline's own memory), shipped, "
                           "default or fast")
  parser.add_argument("--skip-models", action="store_true")
  parser.add_argument("--skip-paths", action="store_true")
  parser.add_argument("--skip-long", action="store_true")
  parser.add_argument("--markdown", default="",
                      help="also write the results page here (e.g. benchmarks/results/enhance.md)")
  parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    child_enhance(*args.child)
    return

  def parse(text):
    return [tuple(int(v) for v in size.split("x")) for size in text.split(",")]

  start, load_start = time.perf_counter(), os.getloadavg()
  say(f"load average at start: {load_start}")
  say(f"CPU: {cpu_description()}")
  rows = [] if args.skip_models else bench_generators(parse(args.sizes), args.repeats)
  paths, long_rows = [], []
  with tempfile.TemporaryDirectory() as tmp:
    if not args.skip_paths:
      paths = bench_paths(Path(tmp), args.path_generators.split(","), parse(args.path_sizes),
                          args.path_repeats, args.pipeline_frames)
    if not args.skip_long:
      long_rows = bench_long_clips(Path(tmp), args.long_generator,
                                   [int(n) for n in args.long_frames.split(",")],
                                   parse(args.long_size)[0])
  say(f"\nload average at end: {os.getloadavg()}")
  if args.markdown:
    write_markdown(Path(args.markdown), rows, paths, long_rows, args, load_start,
                   time.perf_counter() - start)


if __name__ == "__main__":
  main()
