r"""Enhance videos and images with a trained generator.

  python -m jaxenhance.enhance IN OUT --checkpoint=DIR [--codec h264 --crf 12 | --qp 0]
      [--compare CMP.mp4 --compare-mode side|split] [--batch-size 4 --tile 512 --overlap 64]
  jaxenhance enhance IN OUT --checkpoint=DIR      (the same)

``DIR`` is a generator export (``generator.json`` + ``generator.msgpack``, see ``export.py``) or a
training work directory holding one in ``export/``.

Video (any container/codec PyAV decodes) -> video:
* Frames are decoded one at a time and enhanced in batches of ``--batch-size`` frames, so memory
  stays flat however long the video is. Large frames are cut into equal, stride-aligned,
  overlapping tiles that are blended without seams (``inference.py``, ``tiling.py``). The jitted
  function sees one
  shape per video (the last batch is padded), so it compiles once. The next batch is decoded
  while the current one runs (JAX dispatch is asynchronous).
* Temporal generators (``temporal_window`` T > 1) see a sliding window of T frames centred on
  each output frame, with the end frames replicated at the clip ends.
* A generator that reads the decoder's QP map (``conditioning="codec_qp"``) gets each frame's
  map from FFmpeg's side data (``quantiser.py``) when the input is H.264 (FFmpeg's ``h264``
  decoder), one QP per 16x16 macroblock spread over its pixels; other inputs are "unknown",
  and the route line and the output's metadata comment say which it was.
* Re-encoded with ``--codec`` (libx264 by default; libvpx-vp9 for ``.webm``; also libx265,
  libsvtav1, ffv1) at ``--crf`` (default visually lossless: x264 12, x265 14, VP9 15, AV1 20) or
  ``--qp`` (``--qp 0`` is lossless in YUV; add ``--pix-fmt yuv444p`` to keep full chroma, or use
  ``--codec ffv1`` for lossless RGB). RGB -> YUV uses BT.709, limited range, and the stream is
  tagged so; for yuv420p it is ``codecs.rgb_to_yuv420``, the exact inverse of the decoder's
  ``codecs.frame_to_rgb``, so a ``--qp 0`` round trip returns the colours it was given.
* Kept from the input: every frame's timestamp (pts, time base: variable frame rates survive),
  the frame rate, the display rotation (written back as the container's display matrix), and the
  first audio stream: its packets are copied unchanged when the output container accepts the
  codec, else it is re-encoded (AAC, or Opus for WebM) and a warning says so.
* Pixel formats: every input format is converted to 8-bit RGB (10/12-bit, gray, 4:2:2, 4:4:4, ...)
  and a warning says what was converted; the output is 8-bit.
* Odd frame sizes: 4:2:0 cannot represent an odd width or height, so such videos are written in
  4:4:4 (``yuv444p``) at exactly the input size, with a warning that some players (browsers) only
  play 4:2:0. (SVT-AV1 has no 4:4:4: it refuses odd sizes; pick another codec.)
* The output appears atomically: it is written to a new ``OUT.partial-<random>.<ext>`` beside
  ``OUT`` (``atomic_write``: never a planted file or link) and renamed over it when complete.
  Any error, Ctrl-C or SIGTERM deletes the partial file, so no half-written file ever carries
  the output name. The input is only ever read.

Images (``.jpg .jpeg .png .webp .bmp .tif .tiff``) -> images: EXIF orientation is applied (the
output is stored upright), gray/palette/16-bit inputs are converted to 8-bit RGB (with a
warning), alpha is kept when the output format has it, JPEG/WebP quality is ``--quality``
(default 95, JPEG without chroma subsampling).

``--compare PATH`` writes input and output side by side (``--compare-mode side``) or one frame
whose left half is the input and right half the output (``split``), as a video or an image.

Errors (unreadable/truncated/empty input, missing output directory, output equal to the input,
an incompatible checkpoint, ...) exit with code 2 and one message; no traceback. An existing
output is replaced and the CLI says so; ``--no-clobber`` refuses instead.

Python API: ``enhance_video``, ``enhance_image`` and ``run_stage`` (the main job's enhance stage).
This module is the file-level program; the pieces it joins are library modules:
``inference.py`` (``Enhancer``/``enhance_array``: the batched, tiled, jitted core for uint8 frames
in memory), ``video_io.py`` (decoding with timestamps and audio, ``VideoWriter``), ``image_io.py``
(reading and writing images, comparison frames) and ``export.py`` (``--checkpoint``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw

from jaxenhance import (
  atomic_write,
  cloud,
  codecs,
  errors,
  export,
  image_io,
  inference,
  jpeg_quality,
  quantiser,
  video_io,
)
from jaxenhance.inference import EnhanceError
from jaxenhance.models import generator as generator_lib

logger = logging.getLogger("jaxenhance.enhance")


# ---------------------------------------------------------------------------------------------
# Paths: checks before any work, and atomic outputs.
# ---------------------------------------------------------------------------------------------

def check_paths(input_path: str | os.PathLike, output_path: str | os.PathLike,
                compare: str | os.PathLike | None = None) -> tuple[Path, Path, Path | None]:
  """Validates input/output paths up front; raises ``EnhanceError`` with what to do."""
  src, out = Path(input_path), Path(output_path)
  cmp = Path(compare) if compare else None
  if not src.exists():
    raise EnhanceError(f"{src}: no such file")
  if src.is_dir():
    raise EnhanceError(f"{src} is a directory; pass a video or image file")
  for path, what in ((out, "output"), (cmp, "--compare")):
    if path is None:
      continue
    if path.is_dir():
      raise EnhanceError(f"{what} {path} is a directory; give a file name such as "
                         f"{path / ('enhanced' + src.suffix)}")
    if not path.parent.is_dir():
      raise EnhanceError(f"the {what} directory {path.parent} does not exist; create it first "
                         f"(mkdir -p {path.parent})")
    if not os.access(path.parent, os.W_OK):
      raise EnhanceError(f"the {what} directory {path.parent} is not writable")
    if path.resolve() == src.resolve() or (path.exists() and os.path.samefile(path, src)):
      raise EnhanceError(f"the {what} path {path} is the input file; refusing to overwrite the "
                         "input. Choose another output name")
    if image_io.is_image(src) != image_io.is_image(path):
      kind = "an image" if image_io.is_image(src) else "a video"
      exts = (", ".join(image_io.IMAGE_EXTENSIONS) if image_io.is_image(src)
              else ".mp4, .mkv, .mov, .webm")
      raise EnhanceError(f"{src} is {kind}, so the {what} must be too: use one of {exts} "
                         f"(got {path.name})")
  if cmp is not None and cmp.resolve() == out.resolve():
    raise EnhanceError("--compare must differ from the output path")
  return src, out, cmp


# ---------------------------------------------------------------------------------------------
# Video.
# ---------------------------------------------------------------------------------------------

def _format_notes(info: video_io.StreamInfo, out_pix_fmt: str) -> list[str]:
  notes = []
  if info.bit_depth > 8:
    notes.append(f"the input is {info.bit_depth}-bit ({info.pix_fmt}); it is converted to 8-bit "
                 "RGB and the output is 8-bit")
  if info.pix_fmt.startswith(("gray", "ya")):
    notes.append(f"the input is grayscale ({info.pix_fmt}); it is enhanced as RGB with three "
                 "equal channels")
  elif ("444" in info.pix_fmt or info.pix_fmt.startswith(("gbr", "rgb", "bgr"))) and (
      "420" in out_pix_fmt):
    notes.append(f"the input has full-resolution chroma ({info.pix_fmt}); the default output is "
                 "4:2:0: pass --pix-fmt yuv444p to keep it")
  if info.variable_frame_rate:
    notes.append("the input has a variable frame rate; every frame keeps its own timestamp")
  return notes


def enhance_video(input_path: str | os.PathLike, output_path: str | os.PathLike,
                  generator: generator_lib.Generator, params: Any, *,
                  encoding: video_io.VideoEncoding | None = None,
                  compare: str | os.PathLike | None = None,
                  compare_mode: str = "side", max_frames: int | None = None,
                  progress: bool = True, enhancer: inference.Enhancer | None = None,
                  **enhancer_kwargs) -> dict:
  """Enhances a video file into ``output_path`` (atomically); see the module docstring.

  Args:
    input_path: any video PyAV decodes.
    output_path: the enhanced video (extension picks the container).
    generator, params: from ``export.load_generator``.
    encoding: output codec settings (default: libx264 crf 12, yuv420p).
    compare: also write an input-vs-output comparison video here.
    compare_mode: "side" (side by side) or "split" (left input, right output).
    max_frames: enhance only the first frames.
    progress: show a progress bar (frames/s) on stderr.
    enhancer: reuse an ``Enhancer`` (and its compiled function); else one is made from
      ``enhancer_kwargs`` (batch_size, tile, overlap, tile_batch).

  Returns:
    Summary: output, frames, seconds, fps, codec, pix_fmt, audio, rotation, compare, notes.

  Raises:
    VideoError: the input cannot be read. EnhanceError: bad paths or settings.
  """
  src, out, cmp = check_paths(input_path, output_path, compare)
  if compare_mode not in image_io.COMPARE_MODES:
    raise EnhanceError(f"--compare-mode must be one of {image_io.COMPARE_MODES}, "
                       f"got {compare_mode!r}")
  if max_frames is not None and max_frames < 1:
    raise EnhanceError(f"--max-frames must be at least 1, got {max_frames}")
  encoding = encoding or video_io.VideoEncoding()
  info = video_io.probe(src)
  enhancer = enhancer or inference.Enhancer(generator, params, **enhancer_kwargs)
  # The decoder's own QP map, for a model that reads it and a decoder that exports it.
  with_qp = enhancer.reads_qp and info.codec in quantiser.QP_MAP_DECODERS
  qp_route = None
  if enhancer.reads_qp:
    qp_route = ("the decoder's, per macroblock" if with_qp
                else f"unknown (the {info.codec} decoder exports none)")
  enhancer = _told_codec(enhancer, codecs.family_of_decoder(info.codec), src,
                         f"its {info.codec} stream", qp_route)
  qp_frames = {"count": 0}
  total = info.num_frames if max_frames is None else min(max_frames, info.num_frames or max_frames)
  start = time.perf_counter()
  count = 0
  with atomic_write.outputs(out, cmp) as (tmp_out, tmp_cmp):
    container, stream = video_io.open_video(src)
    writers: list[video_io.VideoWriter] = []
    try:
      with container:
        stream.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio else None
        time_base = stream.time_base or Fraction(1, 1000)
        writer = video_io.VideoWriter(tmp_out, encoding, info.width, info.height, info.fps,
                                      time_base, info.rotation, audio,
                                      comment=provenance(enhancer, qp_route))
        writers.append(writer)
        if tmp_cmp is not None:
          cw = info.width * (2 if compare_mode == "side" else 1)
          writers.append(video_io.VideoWriter(tmp_cmp, encoding, cw, info.height, info.fps,
                                              time_base, info.rotation))
        notes = list(dict.fromkeys(_format_notes(info, writer.pix_fmt) + writer.notes))
        for note in dict.fromkeys(notes + [n for w in writers[1:] for n in w.notes]):
          logger.warning("%s: %s", src.name, note)
        decoded = video_io.decode_with_pts(container, stream, src,
                                           writer.write_audio if audio else None,
                                           quantisers=with_qp)
        frames = decoded if max_frames is None else _take(decoded, max_frames)
        if with_qp:
          frames = _with_qp_maps(frames, qp_frames)
        outputs = enhancer.stream(frames)
        bar = _progress(total, progress, f"enhance {src.name}")
        try:
          for before, after, pts in outputs:
            _check_stop()
            writer.write(after, pts)
            if tmp_cmp is not None:
              writers[1].write(image_io.compare_frame(before, after, compare_mode), pts)
            count += 1
            bar.update(1)
        finally:  # finish the pipeline while the input container is still open
          outputs.close()
          decoded.close()
          bar.close()
        if count == 0:
          raise video_io.VideoError(f"{src}: the video stream holds no decodable frames")
        for w in writers:
          w.close()
    except BaseException:
      for w in writers:
        w.abort()
      raise
  seconds = time.perf_counter() - start
  return {"output": str(out), "frames": count, "seconds": round(seconds, 2),
          "fps": round(count / seconds, 2), "codec": writer.encoder, "pix_fmt": writer.pix_fmt,
          "audio": writer.audio_mode, "rotation": info.rotation,
          "input_codec": enhancer.codec, "qp_map": qp_route, "qp_map_frames": qp_frames["count"],
          "compare": str(cmp) if cmp else None, "notes": notes}


def _with_qp_maps(items: Iterator, counts: dict) -> Iterator:
  """``(rgb, pts, quantiser)`` -> ``(rgb, pts, QP per pixel or None)``; counts frames with one."""
  for rgb, pts, q in items:
    if q is None or not q.has_qp_map:
      yield rgb, pts, None
      continue
    counts["count"] += 1
    yield rgb, pts, quantiser.pixel_map(q, *rgb.shape[:2])


def _take(items: Iterator, n: int) -> Iterator:
  for i, item in enumerate(items):
    if i >= n:
      return
    yield item


def _progress(total: int | None, enabled: bool, desc: str):
  from tqdm import tqdm  # only the CLI-facing paths need it

  return tqdm(total=total, unit="frame", desc=desc, disable=not enabled, dynamic_ncols=True,
              smoothing=0.1)


# ---------------------------------------------------------------------------------------------
# Images.
# ---------------------------------------------------------------------------------------------

def provenance(enhancer: inference.Enhancer, qp_route: str | None = None) -> str:
  """The output's metadata comment: what enhanced it, which codec the model was told and, for a
  model that reads it, where its QP map came from (``qp_route``)."""
  if getattr(enhancer.generator, "conditioning", "none") == "none":
    return "enhanced by jaxenhance"
  told = f"enhanced by jaxenhance; input codec told to the model: {enhancer.codec or 'unknown'}"
  if enhancer.reads_qp:
    told += f"; QP map: {qp_route or 'unknown'}"
  return told


def _told_codec(enhancer: inference.Enhancer, codec: str | None, src: Path, what: str,
                qp_route: str | None = None) -> inference.Enhancer:
  """``enhancer`` told the input's codec; a conditioned model says once what it was told (and,
  if it reads one, where its QP map comes from)."""
  if getattr(enhancer.generator, "conditioning", "none") == "none":
    return enhancer
  qp = f"; QP map: {qp_route or 'unknown'}" if enhancer.reads_qp else ""
  if codec is None:
    logger.warning("%s: codec not known to the model (%s); enhancing as unknown%s", src.name,
                   what, qp)
  else:
    logger.warning("%s: enhancing as %s (from %s)%s", src.name, codec, what, qp)
  return enhancer.for_codec(codec)


def enhance_image(input_path: str | os.PathLike, output_path: str | os.PathLike,
                  generator: generator_lib.Generator, params: Any, *, quality: int = 95,
                  compare: str | os.PathLike | None = None, compare_mode: str = "side",
                  enhancer: inference.Enhancer | None = None, **enhancer_kwargs) -> dict:
  """Enhances an image file into ``output_path`` (atomically); returns a summary dict."""
  src, out, cmp = check_paths(input_path, output_path, compare)
  if not 1 <= quality <= 100:
    raise EnhanceError(f"--quality must be 1..100, got {quality}")
  rgb, alpha, notes = image_io.read_image(src)
  jpeg = None
  if src.suffix.lower() in (".jpg", ".jpeg"):
    # The encoder's own quality, read from the file's quantisation tables (jpeg_quality.py).
    jpeg = jpeg_quality.estimate_file(src)
    how = "its IJG tables" if jpeg.exact else "effective: the nearest IJG tables"
    notes.append(f"JPEG quality {jpeg.quality} ({how})")
  for note in notes:
    logger.warning("%s: %s", src.name, note)
  enhancer = enhancer or inference.Enhancer(generator, params, **enhancer_kwargs)
  qp_route = "unknown (images carry no QP map)" if enhancer.reads_qp else None
  enhancer = _told_codec(enhancer, "jpeg" if jpeg is not None else None, src,
                         "a JPEG file" if jpeg is not None else "an image file", qp_route)
  start = time.perf_counter()
  enhanced = inference.enhance_array(rgb[None], generator, params, enhancer=enhancer)[0]
  _check_stop()
  formats = Image.registered_extensions()
  with atomic_write.outputs(out, cmp) as (tmp_out, tmp_cmp):
    image_io.save_image(tmp_out, enhanced, alpha, quality, formats[out.suffix.lower()],
                        comment=provenance(enhancer, qp_route))
    if tmp_cmp is not None:
      image_io.save_image(tmp_cmp, image_io.compare_frame(rgb, enhanced, compare_mode), None,
                          quality, formats[cmp.suffix.lower()])
  return {"output": str(out), "size": list(rgb.shape[:2]),
          "seconds": round(time.perf_counter() - start, 2),
          "jpeg_quality": None if jpeg is None else jpeg.quality, "input_codec": enhancer.codec,
          "compare": str(cmp) if cmp else None, "notes": notes}


# ---------------------------------------------------------------------------------------------
# Checkpoints and the main job's stage.
# ---------------------------------------------------------------------------------------------

def run_stage(config: Any, workdir: str | os.PathLike) -> dict:
  """Main-job stage: compress the carphone sample, enhance it, compare, report PSNR.

  The sample clip (176x144, first 48 frames) is the reference. It is compressed with x264 at
  qp 37 (``codecs.round_trip``), stored losslessly (ffv1) as the input file, and enhanced with
  ``<workdir>/export`` through the same path as the CLI. PSNR (RGB, all frames) of the
  compressed and of the enhanced frames against the reference is reported (the reference is
  itself H.264, lightly compressed; it is used as is). A ``gs://`` work directory gets the
  files uploaded.
  """
  workdir = cloud.path(workdir)
  export_dir = workdir / "export"
  if not (export_dir / export.META_FILE).is_file():
    return {"skipped": f"no trained generator in {export_dir}: run the train stage first"}
  generator, params, meta = export.load_generator(export_dir)
  out_dir = workdir / "enhance"
  if not cloud.is_cloud(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    return _sample_stage(generator, params, meta, out_dir)
  # PyAV reads and writes local files: work in a temporary folder, upload the files after.
  with tempfile.TemporaryDirectory(prefix="jaxenhance-enhance-") as tmp:
    result = _sample_stage(generator, params, meta, Path(tmp))
    for local in sorted(Path(tmp).iterdir()):
      atomic_write.write_bytes(out_dir / local.name, local.read_bytes())
  return {k: v.replace(tmp, str(out_dir)) if isinstance(v, str) else v
          for k, v in result.items()}


def _sample_stage(generator, params, meta: dict, out_dir: Path) -> dict:
  """``run_stage``'s work, its files in the local folder ``out_dir``."""
  from jaxenhance import assets, codecs

  source, info = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=48)
  settings = codecs.EncodeSettings("h264", "qp", 37)
  compressed = codecs.round_trip(source, info.fps, settings).frames

  input_path = out_dir / f"carphone_{settings.tag}.mkv"
  with atomic_write.outputs(input_path) as (tmp,):
    writer = video_io.VideoWriter(tmp, video_io.VideoEncoding(codec="ffv1"), info.width,
                                  info.height, info.fps, Fraction(1, 1000))
    for i, frame in enumerate(compressed):
      writer.write(frame, round(i * 1000 / info.fps))
    writer.close()

  enhancer = inference.Enhancer(generator, params)
  summary = enhance_video(input_path, out_dir / "carphone_enhanced.mp4", generator, params,
                          compare=out_dir / "carphone_compare.mp4", progress=False,
                          enhancer=enhancer)
  enhanced = inference.enhance_array(compressed, generator, params, enhancer=enhancer)
  k = len(source) // 2
  panel = np.concatenate([source[k], compressed[k], enhanced[k]], axis=1)
  image = Image.fromarray(panel)
  draw = ImageDraw.Draw(image)
  for i, label in enumerate(("reference", settings.tag, "enhanced")):
    draw.text((i * info.width + 4, 4), label, fill=(255, 255, 0))
  png = out_dir / "carphone_compare_frame.png"
  image.save(png)
  psnr_in, psnr_out = codecs.psnr(compressed, source), codecs.psnr(enhanced, source)
  return {
      "generator": {k: meta.get(k) for k in ("generator", "num_params", "step") if k in meta},
      "input": str(input_path), "frames": summary["frames"], "fps": summary["fps"],
      "enhanced": summary["output"], "compare": summary["compare"], "compare_png": str(png),
      "psnr_compressed": round(psnr_in, 3), "psnr_enhanced": round(psnr_out, 3),
      "psnr_gain": round(psnr_out - psnr_in, 3),
      "reference": "carphone_pristine.mp4 (176x144, itself H.264), first 48 frames",
  }


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
  # Each dashed option also answers to the absl programs' spelling (--batch_size): one flag
  # style works across the CLI.
  p = argparse.ArgumentParser(
      prog="jaxenhance enhance",
      description="Enhance a video or image with a trained jaxenhance generator.")
  p.add_argument("input", help="input video (any format FFmpeg reads) or image")
  p.add_argument("output", help="output file; its extension picks the container/format")
  p.add_argument("--checkpoint", default="shipped",
                 help="'shipped' (the model inside the package; the default), a generator "
                      "export dir (generator.json + generator.msgpack) or a training workdir "
                      "containing export/")
  p.add_argument("--codec", default="", help="h264 (default), hevc, vp9 (default for .webm), "
                                             "av1, ffv1 (lossless RGB)")
  q = p.add_mutually_exclusive_group()
  q.add_argument("--crf", type=int, help="constant rate factor (default: x264 12, x265 14, "
                                         "vp9 15, av1 20)")
  q.add_argument("--qp", type=int, help="constant quantiser; 0 = lossless YUV (x264/x265/vp9)")
  p.add_argument("--preset", help="encoder speed preset (x264/x265 default: medium)")
  p.add_argument("--pix-fmt", "--pix_fmt",
                 help="output pixel format (default yuv420p; yuv444p for odd sizes)")
  p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality for image outputs")
  p.add_argument("--compare", help="also write an input-vs-output comparison here")
  p.add_argument("--compare-mode", "--compare_mode", choices=("side", "split"), default="side")
  p.add_argument("--batch-size", "--batch_size", type=int, default=4,
                 help="frames per network call")
  p.add_argument("--tile", type=int, default=512, help="largest tile side in pixels")
  p.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels")
  p.add_argument("--tile-batch", "--tile_batch", type=int, default=1,
                 help="tiles per network call")
  p.add_argument("--max-frames", "--max_frames", type=int,
                 help="enhance only the first N frames")
  p.add_argument("--no-progress", "--no_progress", action="store_true", help="no progress bar")
  p.add_argument("--no-clobber", "--no_clobber", action="store_true",
                 help="refuse to replace an existing output (or --compare) file")
  return p


class Interrupted(KeyboardInterrupt):
  """A stop signal (SIGINT/SIGTERM) reached the CLI; raised between frames."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum


_stop_signal: int | None = None


def _request_stop(signum, frame):
  """CLI signal handler: note the signal; the frame loop stops at the next frame boundary.

  Raising straight from the handler could interrupt PyAV half way through an encoder call and
  crash the process at exit; a second signal stops at once anyway.
  """
  del frame
  global _stop_signal
  if _stop_signal is not None:
    raise Interrupted(signum)
  _stop_signal = signum


def _check_stop() -> None:
  if _stop_signal is not None:
    raise Interrupted(_stop_signal)


def main(argv: list[str] | None = None) -> int:
  """The CLI: returns the exit code (0 ok, 2 bad input, 128 + signal number if interrupted)."""
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
  global _stop_signal
  _stop_signal = None
  previous = {signum: signal.signal(signum, _request_stop)
              for signum in (signal.SIGINT, signal.SIGTERM)}
  try:
    return _run(args)
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)


def _run(args: argparse.Namespace) -> int:
  try:
    src, out, cmp = check_paths(args.input, args.output, args.compare)
    existing = [str(p) for p in (out, cmp) if p is not None and p.exists()]
    if existing and args.no_clobber:
      raise EnhanceError(f"{existing[0]} exists and --no-clobber was given; nothing written")
    generator, params, _ = export.load_generator(args.checkpoint)
    enhancer = inference.Enhancer(generator, params, batch_size=args.batch_size, tile=args.tile,
                                  overlap=args.overlap, tile_batch=args.tile_batch)
    if image_io.is_image(src):
      summary = enhance_image(src, out, generator, params, quality=args.quality, compare=cmp,
                              compare_mode=args.compare_mode, enhancer=enhancer)
    else:
      encoding = video_io.VideoEncoding(codec=args.codec, crf=args.crf, qp=args.qp,
                                        preset=args.preset, pix_fmt=args.pix_fmt)
      summary = enhance_video(src, out, generator, params, encoding=encoding, compare=cmp,
                              compare_mode=args.compare_mode, max_frames=args.max_frames,
                              progress=not args.no_progress, enhancer=enhancer)
  except errors.USER_ERRORS as exc:  # bad input or settings; a full disk, permissions
    return errors.report("enhance", exc)
  except av.FFmpegError as exc:
    print(f"jaxenhance enhance: error: FFmpeg failed: {exc}", file=sys.stderr)
    return 2
  except KeyboardInterrupt as exc:
    signum = getattr(exc, "signum", signal.SIGINT)
    print(f"jaxenhance enhance: interrupted ({signal.Signals(signum).name}); no output was "
          "written", file=sys.stderr)
    return 128 + signum
  rate = f", {summary['fps']} frames/s" if "fps" in summary else ""
  print(f"wrote {summary['output']}{rate}" +
        (f"; comparison in {summary['compare']}" if summary.get("compare") else ""))
  if existing:  # replaced, as asked, but never silently
    print(f"replaced the existing {', '.join(existing)} (--no-clobber keeps existing files)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
