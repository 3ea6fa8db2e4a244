"""The enhance CLI and API on real footage: timing, audio, rotation, images, bad input, atomicity."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import jax
import numpy as np
import pytest
import skimage.data
from PIL import Image

from jaxenhance import assets, codecs, enhance, export, inference, video_io
from jaxenhance.data import sources
from jaxenhance.models import generator as generator_lib

FPS = Fraction(30000, 1001)


# ---------------------------------------------------------------------------------------------
# Fixtures: real frames, tiny generators, input files written with plain PyAV.
# ---------------------------------------------------------------------------------------------

def tiny_generator(temporal_window: int = 1, scale: float = 0.05, identity: bool = False):
  """A width-8 generator with random numpy weights (no PRNG compile); identity: zero output conv."""
  config = {"kind": "residual", "width": 8, "num_scales": 2, "num_blocks": 1,
                "temporal_window": temporal_window}
  generator = generator_lib.make_generator(config)
  shapes = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                          np.zeros((1, temporal_window, 16, 16, 3), np.float32))
  rng = np.random.default_rng(temporal_window)
  params = jax.tree.map(lambda s: (scale * rng.standard_normal(s.shape)).astype(np.float32),
                        shapes)
  if identity:
    params["params"]["out"] = jax.tree.map(np.zeros_like, params["params"]["out"])
  return config, generator, params


@pytest.fixture(scope="module")
def frames():
  """10 real frames (carphone, a face), cropped to 64x48."""
  clip, _ = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=10)
  return clip[:, 48:96, 56:120].copy()


@pytest.fixture(scope="module")
def model():
  _, generator, params = tiny_generator()
  return generator, params


@pytest.fixture(scope="module")
def enhancer(model):
  return inference.Enhancer(*model, batch_size=4)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, model):
  directory = tmp_path_factory.mktemp("export")
  config, _, params = tiny_generator()
  export.save_generator(directory, config, params, {"step": 0})
  return directory


def write_clip(path, frames, codec="libx264", pix_fmt="yuv420p", rotation=0, audio=False,
               rate=FPS, options=None):
  """Writes frames with plain PyAV (independent of the code under test)."""
  with av.open(str(path), "w") as out:
    stream = out.add_stream(codec, rate=rate, options=options or {})
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
    if rotation:
      stream.set_display_rotation(rotation)
    sound = None
    if audio:
      sound = out.add_stream("aac", rate=48000)
      sound.layout = "stereo"
    for i, frame in enumerate(frames):
      vf = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=pix_fmt)
      vf.pts = i
      out.mux(stream.encode(vf))
    if sound is not None:
      samples = int(len(frames) / FPS * 48000)
      t = np.arange(samples) / 48000.0
      tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
      for start in range(0, samples, 1024):
        chunk = np.stack([tone[start:start + 1024]] * 2)
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                        layout="stereo")
        af.sample_rate, af.pts = 48000, start
        out.mux(sound.encode(af))
      out.mux(sound.encode(None))
    out.mux(stream.encode(None))
  return Path(path)


def decode(path):
  """(frames, pts in seconds, rotation, audio codec or None, audio packet count)."""
  with av.open(str(path)) as container:
    stream = container.streams.video[0]
    frames, times, rotation = [], [], 0
    for frame in container.decode(stream):
      frames.append(codecs.frame_to_rgb(frame))  # the colours enhance itself decodes
      times.append(frame.pts * frame.time_base)
      rotation = frame.rotation
  audio_codec, packets = None, 0
  with av.open(str(path)) as container:
    if container.streams.audio:
      audio_codec = container.streams.audio[0].codec_context.name
      packets = sum(1 for p in container.demux(audio=0) if p.size)
  return np.stack(frames), times, rotation, audio_codec, packets


def reference(generator, params, frames, window=1):
  """The generator applied directly (windows of clamped neighbours), rounded to uint8."""
  x = frames.astype(np.float32) / 255.0
  if window > 1:
    r, n = window // 2, len(frames)
    x = np.stack([x[np.clip(np.arange(i - r, i + r + 1), 0, n - 1)] for i in range(n)])
  y = generator.apply(params, x)
  return np.round(np.clip(np.asarray(y), 0, 1) * 255).astype(np.uint8)


def leftovers(directory):
  return sorted(p.name for p in Path(directory).iterdir() if ".partial-" in p.name)


def digest(path):
  return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The core.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("radius", [0, 1, 2])
@pytest.mark.parametrize("batch", [1, 3])
def test_chunks_cover_every_frame_with_replicated_ends(batch, radius):
  for n in range(1, 8):
    items = [(np.full((1, 1, 3), i, np.uint8), i) for i in range(n)]
    outputs = []
    for clip, valid, metas in inference._chunks(iter(items), batch, radius):
      assert clip.shape[0] == batch + 2 * radius and 1 <= valid <= batch
      for j, meta in enumerate(metas):
        window = clip[j:j + 2 * radius + 1, 0, 0, 0]
        want = np.clip(np.arange(meta - radius, meta + radius + 1), 0, n - 1)
        np.testing.assert_array_equal(window, want)
      outputs += metas
    assert outputs == list(range(n))


def test_enhance_array_equals_the_generator(frames, model, enhancer):
  generator, params = model
  out = inference.enhance_array(frames, generator, params, enhancer=enhancer)
  want = reference(generator, params, frames)
  assert out.shape == frames.shape and out.dtype == np.uint8
  assert np.abs(out.astype(int) - want).max() <= 1
  assert np.abs(out.astype(int) - frames).mean() > 1.0  # the model does change the frames


def test_temporal_generator_gets_a_sliding_window(frames):
  _, generator, params = tiny_generator(temporal_window=3)
  clip = frames[:7]
  out = inference.enhance_array(clip, generator, params, batch_size=3)
  want = reference(generator, params, clip, window=3)
  assert np.abs(out.astype(int) - want).max() <= 1


# ---------------------------------------------------------------------------------------------
# Video files.
# ---------------------------------------------------------------------------------------------

def test_video_keeps_timestamps_rate_rotation_and_audio(tmp_path, frames, model, enhancer):
  src = write_clip(tmp_path / "in.mp4", frames, rotation=90, audio=True)
  before = digest(src)
  out, cmp = tmp_path / "out.mp4", tmp_path / "cmp.mp4"
  summary = enhance.enhance_video(
      src, out, *model, encoding=video_io.VideoEncoding(qp=0, pix_fmt="yuv444p"), compare=cmp,
      progress=False, enhancer=enhancer)
  assert digest(src) == before and leftovers(tmp_path) == []
  got, times, rotation, audio, packets = decode(out)
  decoded_in, times_in, _, _, packets_in = decode(src)
  assert summary["frames"] == len(frames) == len(got)
  assert got.shape == frames.shape
  assert times == times_in and rotation == 90
  with av.open(str(out)) as c:
    assert c.streams.video[0].average_rate == FPS
  assert audio == "aac" and packets == packets_in > 0 and summary["audio"] == "copied (aac)"
  want = inference.enhance_array(decoded_in, *model, enhancer=enhancer)
  assert np.abs(got.astype(int) - want).mean() < 1.0  # qp 0 4:4:4: only YUV rounding
  side, _, _, _, _ = decode(cmp)
  assert side.shape == (len(frames), 48, 128, 3)
  assert np.abs(side[:, :, :64].astype(int) - decoded_in).mean() < 1.0


def test_odd_size_webm_with_audio_reencoded(tmp_path, frames, model):
  odd = np.ascontiguousarray(frames[:6, :47, :63])
  src = write_clip(tmp_path / "odd.mkv", odd, pix_fmt="yuv444p", audio=True)
  summary = enhance.enhance_video(src, tmp_path / "out.webm", *model, progress=False)
  got, _, _, audio, packets = decode(tmp_path / "out.webm")
  assert got.shape == odd.shape and summary["pix_fmt"] == "yuv444p"
  assert summary["codec"] == "libvpx-vp9" and audio == "opus" and packets > 0
  assert any("odd frame size" in n for n in summary["notes"])
  assert any("re-encoded" in n for n in summary["notes"])


@pytest.mark.parametrize("pix_fmt,note", [("gray", "grayscale"), ("yuv420p10le", "10-bit"),
                                          ("yuv444p", "full-resolution chroma")])
def test_unusual_pixel_formats_are_converted_and_reported(tmp_path, frames, model, enhancer,
                                                          pix_fmt, note):
  src = write_clip(tmp_path / "in.mkv", frames[:5], codec="ffv1", pix_fmt=pix_fmt)
  summary = enhance.enhance_video(src, tmp_path / "out.mp4", *model, progress=False,
                                  enhancer=enhancer)
  got, *_ = decode(tmp_path / "out.mp4")
  assert got.shape == (5, 48, 64, 3) and summary["pix_fmt"] == "yuv420p"
  assert any(note in n for n in summary["notes"]), summary["notes"]


def test_qp0_yuv420p_round_trip_keeps_colours(tmp_path):
  # The writer's RGB -> yuv420p and the decoder's yuv420p -> RGB are one exact matrix pair, so
  # lossless encodes return the colours they were given (swscale's pair lost ~1 level each way).
  _, generator, params = tiny_generator(identity=True)
  palette = np.array([[60, 160, 60], [200, 60, 60], [40, 200, 220], [60, 60, 200],
                      [128, 128, 128], [224, 172, 140]], np.uint8)
  flat = np.ascontiguousarray(np.broadcast_to(palette[:, None, None], (6, 48, 64, 3)))
  photo = sources.area_resize(skimage.data.astronaut()[:384], (48, 64))  # a real photo
  frames = np.concatenate([flat, photo[None]])
  src = tmp_path / "in.mp4"
  writer = video_io.VideoWriter(src, video_io.VideoEncoding(qp=0), 64, 48, 30.0, Fraction(1, 30))
  for i, rgb in enumerate(frames):
    writer.write(rgb, i)
  writer.close()
  out = tmp_path / "out.mp4"
  summary = enhance.enhance_video(src, out, generator, params, progress=False,
                                  encoding=video_io.VideoEncoding(qp=0))
  assert summary["pix_fmt"] == "yuv420p"
  # Each pass is lossless in YUV: what comes back is the in-memory 4:2:0 round trip (whose
  # chroma subsampling is the only loss), without a colour shift.
  want = frames
  for path in (src, out):  # written once, then decoded, enhanced (identity) and written again
    want = codecs.yuv420_to_rgb(*codecs.rgb_to_yuv420(want))
    got = np.stack(list(video_io.iter_frames(path)))
    assert np.abs(got.astype(int) - want).max() <= 1
    assert np.abs(got[:6].astype(int) - flat).max() <= 1
    shift = (got[6].astype(np.float64) - want[6]).mean(axis=(0, 1))
    assert np.abs(shift).max() < 0.25, shift


def test_codec_conditioned_model_is_told_the_input_codec(tmp_path, frames, caplog):
  """The container's codec (video) or the file type (JPEG) picks the FiLM row; others: unknown."""
  config = {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1,
            "conditioning": "codec"}
  generator = generator_lib.make_generator(config)
  params = generator.init(jax.random.PRNGKey(0), np.zeros((1, 16, 16, 3), np.float32))
  rng = np.random.default_rng(0)  # every FiLM row moves the output
  params = jax.tree.map(lambda p: p + 0.05 * rng.standard_normal(p.shape).astype(np.float32),
                        params)
  enhancer = inference.Enhancer(generator, params, batch_size=2)
  write_clip(tmp_path / "in.mp4", frames[:3])
  summary = enhance.enhance_video(tmp_path / "in.mp4", tmp_path / "out.mkv", generator, params,
                                  encoding=video_io.VideoEncoding(qp=0), enhancer=enhancer,
                                  progress=False)
  assert summary["input_codec"] == "h264"
  assert "enhancing as h264 (from its h264 stream)" in caplog.text
  with av.open(str(tmp_path / "out.mkv")) as container:
    tags = {k.lower(): v for k, v in container.metadata.items()}  # Matroska upper-cases them
    assert tags["comment"].endswith("input codec told to the model: h264")
  Image.fromarray(frames[0]).save(tmp_path / "in.jpg", quality=30)
  Image.fromarray(frames[0]).save(tmp_path / "in.png")
  rows = {}
  for name in ("in.jpg", "in.png"):
    summary = enhance.enhance_image(tmp_path / name, tmp_path / f"out_{name}.png", generator,
                                    params, enhancer=enhancer)
    rows[name] = summary["input_codec"]
  assert rows == {"in.jpg": "jpeg", "in.png": None}
  assert Image.open(tmp_path / "out_in.png.png").info["Comment"].endswith("model: unknown")
  # What the row does: the JPEG file's output is the generator told "jpeg".
  lq = np.asarray(Image.open(tmp_path / "in.jpg").convert("RGB"))
  want = generator.apply(params, lq[None].astype(np.float32) / 255.0,
                         codec=np.array([generator_lib.codec_index("jpeg")]))
  want = np.round(np.clip(np.asarray(want[0]), 0, 1) * 255).astype(np.uint8)
  got = np.asarray(Image.open(tmp_path / "out_in.jpg.png"))
  assert np.abs(got.astype(int) - want).max() <= 1
  assert codecs.family_of_decoder("libdav1d") == "av1" and codecs.family_of_decoder("mpeg2video") is None


def test_qp_conditioned_model_reads_the_h264_decoders_qp_map(tmp_path, frames, caplog):
  """H.264 input: each frame's macroblock QPs reach the model and the output says so; other
  inputs are enhanced with the QP unknown, said once."""
  from jaxenhance import quantiser

  config = {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1,
            "conditioning": "codec_qp"}
  generator = generator_lib.make_generator(config)
  shapes = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                          np.zeros((1, 16, 16, 3), np.float32))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: (0.05 * rng.standard_normal(s.shape)).astype(np.float32),
                        shapes)
  params["params"]["qp_stem"]["kernel"] *= 10  # the map moves the output by several levels
  enhancer = inference.Enhancer(generator, params, batch_size=2)
  src = write_clip(tmp_path / "in.mp4", frames[:3], options={"crf": "30"})
  summary = enhance.enhance_video(src, tmp_path / "out.mkv", generator, params,
                                  encoding=video_io.VideoEncoding(codec="ffv1"),  # lossless RGB
                                  enhancer=enhancer, progress=False)
  assert summary["qp_map"].startswith("the decoder's") and summary["qp_map_frames"] == 3
  assert "enhancing as h264 (from its h264 stream); QP map: the decoder's" in caplog.text
  with av.open(str(tmp_path / "out.mkv")) as container:
    tags = {k.lower(): v for k, v in container.metadata.items()}
    assert "QP map: the decoder's" in tags["comment"]
  # The output is the generator told each frame's own map (decoded here independently).
  decoded = list(quantiser.iter_quantisers(src))
  lq = np.stack([rgb for rgb, _ in decoded])
  maps = np.stack([quantiser.pixel_map(q, 48, 64) for _, q in decoded])
  assert (maps < 52).all()
  want = generator.apply(params, lq.astype(np.float32) / 255.0, qp_map=maps,
                         codec=np.array([generator_lib.codec_index("h264")] * 3))
  want = np.round(np.clip(np.asarray(want), 0, 1) * 255).astype(int)
  got = decode(tmp_path / "out.mkv")[0]
  assert np.abs(got - want).max() <= 1
  blind = inference.enhance_array(lq, generator, params, enhancer=enhancer.for_codec("h264"))
  assert np.abs(blind - want).max() >= 3  # without the map the output differs
  caplog.clear()
  other = write_clip(tmp_path / "in.mkv", frames[:2], codec="ffv1", pix_fmt="yuv420p")
  summary = enhance.enhance_video(other, tmp_path / "out2.mkv", generator, params,
                                  encoding=video_io.VideoEncoding(qp=0), enhancer=enhancer,
                                  progress=False)
  assert summary["qp_map_frames"] == 0 and summary["qp_map"].startswith("unknown")
  assert caplog.text.count("QP map: unknown (the ffv1 decoder exports none)") == 1


def test_image_in_image_out(tmp_path, frames, model, enhancer):
  generator, params = model
  rgba = np.dstack([frames[0], np.linspace(0, 255, 64 * 48).reshape(48, 64).astype(np.uint8)])
  Image.fromarray(rgba, "RGBA").save(tmp_path / "in.png")
  summary = enhance.enhance_image(tmp_path / "in.png", tmp_path / "out.png", generator, params,
                                  compare=tmp_path / "cmp.png", compare_mode="split",
                                  enhancer=enhancer)
  out = np.asarray(Image.open(tmp_path / "out.png"))
  assert out.shape == (48, 64, 4)
  np.testing.assert_array_equal(out[..., 3], rgba[..., 3])  # alpha kept
  want = reference(generator, params, frames[:1])[0]
  assert np.abs(out[..., :3].astype(int) - want).max() <= 1
  assert np.asarray(Image.open(tmp_path / "cmp.png")).shape == (48, 64, 3)
  assert summary["compare"]

  Image.fromarray(frames[1].mean(-1).astype(np.uint8), "L").save(tmp_path / "gray.jpg",
                                                                 quality=90)
  summary = enhance.enhance_image(tmp_path / "gray.jpg", tmp_path / "gray_out.jpg", generator,
                                  params, enhancer=enhancer)
  assert np.asarray(Image.open(tmp_path / "gray_out.jpg")).shape == (48, 64, 3)
  assert any("converted to 8-bit RGB" in n for n in summary["notes"])


# ---------------------------------------------------------------------------------------------
# Bad input: exit code 2, one clear message, nothing written, input untouched.
# ---------------------------------------------------------------------------------------------

def _bad_cases(tmp_path, frames):
  good = write_clip(tmp_path / "good.mp4", frames[:4])
  text = tmp_path / "notes.mp4"
  text.write_text("this is not a video\n" * 20)
  truncated = tmp_path / "truncated.mp4"
  truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
  empty = tmp_path / "empty.mp4"  # a finished MP4 that holds zero frames
  with av.open(str(empty), "w") as out:
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height = 64, 48
    out.start_encoding()
  blank = bytearray(good.read_bytes())  # intact container, video data zeroed: nothing decodes
  start = blank.find(b"mdat")
  size = int.from_bytes(blank[start - 4:start], "big")
  blank[start + 4:start - 4 + size] = bytes(size - 8)
  undecodable = tmp_path / "undecodable.mp4"
  undecodable.write_bytes(bytes(blank))
  bad_export = tmp_path / "bad_export"
  config, _, _ = tiny_generator()
  _, _, wider = tiny_generator()
  export.save_generator(bad_export, dict(config, width=16), wider)
  out = tmp_path / "out.mp4"
  return {
      "not a video": ([text, out], "not a video file"),
      "truncated": ([truncated, out], "truncated"),
      "zero frames": ([empty, out], "no video stream"),
      "no decodable frame": ([undecodable, out], "does not decode"),
      "missing output dir": ([good, tmp_path / "nope" / "out.mp4"], "does not exist"),
      "output is input": ([good, good], "refusing to overwrite the input"),
      "incompatible checkpoint": ([good, out, "--checkpoint", str(bad_export)],
                                  "incompatible config"),
      "missing checkpoint": ([good, out, "--checkpoint", str(tmp_path / "none")],
                             "no such directory"),
      "image to video": ([good, tmp_path / "out.png"], "must be too"),
      "bad crf": ([good, out, "--crf", "99"], "out of range"),
      "odd size av1": ([write_clip(tmp_path / "odd.mkv", frames[:2, :47, :63], codec="ffv1",
                                   pix_fmt="yuv444p"), tmp_path / "o.mkv", "--codec", "av1"],
                       "odd frame size"),
  }


def test_bad_input_gives_a_clear_error_and_writes_nothing(tmp_path, frames, checkpoint, capsys):
  for name, (args, message) in _bad_cases(tmp_path, frames).items():
    argv = [str(a) for a in args]
    if "--checkpoint" not in argv:
      argv += ["--checkpoint", str(checkpoint)]
    inputs = {p: digest(p) for p in map(Path, argv[:1]) if p.is_file()}
    assert enhance.main(argv + ["--no-progress"]) == 2, name
    err = capsys.readouterr().err
    assert message in err and err.startswith("jaxenhance enhance: error:"), (name, err)
    assert "Traceback" not in err
    assert all(digest(p) == h for p, h in inputs.items()), name
    assert not (tmp_path / "out.mp4").exists() and leftovers(tmp_path) == [], name


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_failure_midway_leaves_no_output(tmp_path, frames, model, error):
  class FailingEnhancer(inference.Enhancer):
    calls = 0

    def submit(self, clip):
      FailingEnhancer.calls += 1
      if FailingEnhancer.calls == 2:
        raise error("model failed midway")
      return super().submit(clip)

  src = write_clip(tmp_path / "in.mp4", frames, audio=True)
  before = digest(src)
  out = tmp_path / "out.mp4"
  out.write_bytes(b"an older result that must survive")
  with pytest.raises(error):
    enhance.enhance_video(src, out, *model, compare=tmp_path / "cmp.mp4", progress=False,
                          enhancer=FailingEnhancer(*model, batch_size=2))
  assert FailingEnhancer.calls == 2
  assert out.read_bytes() == b"an older result that must survive"
  assert not (tmp_path / "cmp.mp4").exists() and leftovers(tmp_path) == []
  assert digest(src) == before


def test_cli_subprocess_errors_cleanly_and_sigterm_cleans_up(tmp_path, frames, checkpoint):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  cmd = [sys.executable, "-m", "jaxenhance.cli", "enhance"]
  text = tmp_path / "notes.mp4"
  text.write_text("not a video\n")
  done = subprocess.run(cmd + [str(text), str(tmp_path / "x.mp4"), "--checkpoint",
                               str(checkpoint)], check=False, capture_output=True, text=True,
                        env=env, timeout=120)
  assert done.returncode == 2 and "Traceback" not in done.stderr
  assert "not a video file" in done.stderr

  long = write_clip(tmp_path / "long.mp4", np.concatenate([frames] * 100))  # 1000 frames
  out = tmp_path / "out.mp4"
  proc = subprocess.Popen(cmd + [str(long), str(out), "--checkpoint", str(checkpoint),
                                 "--batch-size", "1", "--codec", "vp9", "--no-progress"],
                          stderr=subprocess.PIPE, text=True, env=env)
  deadline = time.time() + 120
  while not leftovers(tmp_path) and proc.poll() is None and time.time() < deadline:
    time.sleep(0.1)
  time.sleep(1.0)  # let it encode some frames
  assert proc.poll() is None, "the run finished before it could be interrupted"
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 128 + signal.SIGTERM, err
  assert "Traceback" not in err and "interrupted (SIGTERM); no output was written" in err
  assert not out.exists() and leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# The main job's stage.
# ---------------------------------------------------------------------------------------------

def test_run_stage_with_identity_generator(tmp_path):
  assert "skipped" in enhance.run_stage(None, tmp_path)
  config, _, params = tiny_generator(identity=True)
  export.save_generator(tmp_path / "export", config, params)
  summary = enhance.run_stage(None, tmp_path)
  assert summary["frames"] == 48
  for key in ("enhanced", "compare", "compare_png", "input"):
    assert Path(summary[key]).is_file()
  # The identity generator returns the compressed frames: no gain, and honest about it.
  assert summary["psnr_enhanced"] == summary["psnr_compressed"] and summary["psnr_gain"] == 0
  assert 20 < summary["psnr_compressed"] < 40
