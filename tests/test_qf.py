"""Quality predictor: shapes, a tiny real training run (QF 5 vs 60), routing, override, errors."""

import io
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxenhance import assets, qf_train
from jaxenhance.models import generator as gen_lib
from jaxenhance.models import qf

KEY = jax.random.key(0, impl="rbg")  # cheap to compile; values do not matter for shapes


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="JPEG", quality=quality, subsampling=2)
  buf.seek(0)
  return np.asarray(Image.open(buf).convert("RGB"))


def _patches(photo: np.ndarray, quality: int, num: int, seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  frame = _jpeg(photo, quality)
  return qf_train.cut_patches(frame, num, 32, 16, 2.0, rng)


def _net(stem: str, num_classes: int = 2) -> qf.QualityNet:
  return qf.QualityNet(num_classes=num_classes, stem=stem, widths=(4, 8, 8, 8), dense=16,
                       max_step=32)


@pytest.mark.parametrize("stem", ["dct", "pixels"])
def test_network_shapes(stem):
  net = _net(stem, 6)
  x = jnp.zeros((3, 32, 32, 3))
  params = jax.jit(net.init)(KEY, x)
  assert net.apply(params, x).shape == (3, 6)
  with pytest.raises(qf.PredictorError, match=r"\[N, P, P, 3\]"):
    net.apply(params, jnp.zeros((32, 32, 3)))


# The IJG luma quantisation table (row = vertical frequency), used as is at quality 50.
_IJG_LUMA = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]])


def test_dct_stem_sees_jpeg_quantiser_steps():
  """The stem's block DCT of a decoded JPEG lands on multiples of libjpeg's steps."""
  basis = qf.dct_basis().reshape(64, 64)
  np.testing.assert_allclose(basis.T @ basis, np.eye(64), atol=1e-5)
  # A gray crop (chroma flat: decoded RGB = Y) that does not clip at 0 or 255.
  gray = assets.sample_photo("astronaut")[150:214, 300:364, 1]
  decoded = _jpeg(np.repeat(gray[..., None], 3, axis=-1), 50)[..., 0].astype(np.float64)
  blocks = (decoded - 128.0).reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
  coeffs = blocks @ basis

  def misfit(table):
    ratio = coeffs / table.reshape(64)
    nonzero = np.round(ratio) != 0
    return np.abs(ratio - np.round(ratio))[nonzero].mean(), nonzero.sum()

  fit, count = misfit(_IJG_LUMA)
  assert count > 50 and fit < 0.03  # rounding noise only
  assert misfit(_IJG_LUMA.T)[0] > 2 * fit  # the (vertical, horizontal) order matters


def test_tiny_training_separates_qf5_from_qf60_on_held_out_photo():
  """Train on astronaut + chelsea patches, test on coffee patches (a held-out photo)."""
  train_x, train_y = [], []
  for i, name in enumerate(["astronaut", "chelsea"]):
    for label, quality in enumerate([5, 60]):
      p = _patches(assets.sample_photo(name), quality, 48, seed=i)
      train_x.append(p)
      train_y.append(np.full(len(p), label))
  data = {"patches": np.concatenate(train_x), "labels": np.concatenate(train_y)}
  q = ml_collections.ConfigDict({
      "stem": "dct", "widths": (4, 8, 8, 8), "dense": 16, "channels": "luma", "max_step": 32,
      "patch_size": 32, "num_patches": 8, "align": 16, "steps": 40, "batch_size": 32,
      "lr": 3e-3, "weight_decay": 0.0, "log_every": 1000})
  classes = qf.QualityClasses.jpeg([5, 60])
  predictor = qf_train.train(q, data, classes, seed=0, log=lambda *_: None)

  coffee = assets.sample_photo("coffee")
  test_x = [_patches(coffee, quality, 24, seed=5) for quality in (5, 60)]
  pred = [predictor.patch_logits(x).argmax(-1) for x in test_x]
  accuracy = (np.sum(pred[0] == 0) + np.sum(pred[1] == 1)) / sum(len(x) for x in test_x)
  assert accuracy > 0.8, accuracy  # chance is 0.5
  # Image level: the whole held-out photo at each quality.
  index, probs = predictor.predict_class(np.stack([_jpeg(coffee, 5), _jpeg(coffee, 60)]))
  np.testing.assert_array_equal(index, [0, 1])
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


@pytest.fixture(scope="module")
def small_predictor():
  """An untrained predictor whose dense bias is set so it always answers class 1 (QF 10)."""
  net = _net("dct", 3)
  params = jax.jit(net.init)(KEY, jnp.zeros((1, 32, 32, 3)))
  params = jax.tree.map(np.asarray, params)
  params["params"]["logits"]["kernel"] = np.zeros_like(params["params"]["logits"]["kernel"])
  params["params"]["logits"]["bias"] = np.array([0.0, 5.0, 0.0], np.float32)
  return qf.Predictor(net, params, qf.QualityClasses.jpeg([5, 10, 20]), patch_size=32,
                      num_patches=4, align=16)


@pytest.fixture(scope="module")
def ensemble():
  """Three identity generators (zero-init) whose output conv biases add 0, +0.1 and +0.2."""
  g = gen_lib.Generator(kind="fast", width=4, num_scales=1, num_blocks=1)
  variables = jax.tree.map(np.asarray, jax.jit(g.init)(KEY, jnp.zeros((1, 16, 16, 3))))
  members = {}
  for value, shift in [(5, 0.0), (10, 0.1), (20, 0.2)]:
    v = jax.tree.map(np.copy, variables)
    v["params"]["out"]["bias"] = np.full(3, shift, np.float32)
    members[value] = (g, v)
  return qf.Ensemble(members)


def _frames() -> np.ndarray:
  photo = assets.sample_photo("chelsea")
  return np.stack([_jpeg(photo[:64, :96], 10), _jpeg(photo[100:164, 200:296], 10)])


def test_route_uses_predicted_class_and_override_wins(small_predictor, ensemble):
  frames = _frames()
  routed = qf.route(frames, small_predictor, ensemble)
  np.testing.assert_array_equal(routed.class_values, [10, 10])
  assert routed.probabilities.shape == (2, 3) and not routed.overridden
  base = frames.astype(np.int32)
  # The QF 10 generator adds 0.1 * 255 ~ 26 grey levels (where not clipped).
  shift = np.median(routed.frames.astype(np.int32) - base)
  assert shift == pytest.approx(25.5, abs=1)

  over = qf.route(frames, small_predictor, ensemble, override_class=20)
  np.testing.assert_array_equal(over.class_values, [20, 20])
  assert over.overridden and over.probabilities is None
  assert np.median(over.frames.astype(np.int32) - base) == pytest.approx(51, abs=1)
  same = qf.route(frames, small_predictor, ensemble, override_class=5)
  np.testing.assert_array_equal(same.frames, frames)


def test_route_groups_mixed_classes():
  """Frames predicted as different classes each get their own generator."""
  net = _net("dct", 2)
  params = jax.tree.map(np.asarray, jax.jit(net.init)(KEY, jnp.zeros((1, 32, 32, 3))))
  # Class 0 (QF 5) when the zero fraction of the DC-to-high frequencies is high (heavy compression).
  kernel = np.zeros_like(params["params"]["logits"]["kernel"])
  params["params"]["hidden"]["kernel"] = np.zeros_like(params["params"]["hidden"]["kernel"])
  params["params"]["hidden"]["kernel"][-64:, 0] = 1.0  # sum of zero fractions
  params["params"]["hidden"]["bias"] = np.zeros_like(params["params"]["hidden"]["bias"])
  kernel[0, 0] = 1.0
  params["params"]["logits"]["kernel"] = kernel
  params["params"]["logits"]["bias"] = np.array([0.0, 40.0], np.float32)
  predictor = qf.Predictor(net, params, qf.QualityClasses.jpeg([5, 90]), 32, 4, 16)
  photo = assets.sample_photo("astronaut")[100:196, 100:196]
  frames = np.stack([_jpeg(photo, 90), _jpeg(photo, 5), _jpeg(photo, 90)])
  g = gen_lib.Generator(kind="fast", width=4, num_scales=1, num_blocks=1)
  v = jax.tree.map(np.asarray, jax.jit(g.init)(KEY, jnp.zeros((1, 16, 16, 3))))
  bright = jax.tree.map(np.copy, v)
  bright["params"]["out"]["bias"] = np.full(3, 1.0, np.float32)
  routed = qf.route(frames, predictor, qf.Ensemble({5: (g, bright), 90: (g, v)}))
  np.testing.assert_array_equal(routed.class_values, [90, 5, 90])
  np.testing.assert_array_equal(routed.frames[[0, 2]], frames[[0, 2]])
  assert (routed.frames[1] == 255).all()


def test_bad_input_errors(small_predictor, ensemble):
  frames = _frames()
  with pytest.raises(qf.PredictorError, match="uint8"):
    qf.route(frames.astype(np.float32) / 255, small_predictor, ensemble)
  with pytest.raises(qf.PredictorError, match=r"frames\[None\]"):
    small_predictor.predict_class(frames[0])
  with pytest.raises(qf.PredictorError, match="not in any class.*5, 10, 20"):
    qf.route(frames, small_predictor, ensemble, override_class=30)
  with pytest.raises(qf.PredictorError, match="smaller than"):
    small_predictor.predict_class(frames[:, :16, :16])
  partial = qf.Ensemble({5: ensemble.members[5]})
  with pytest.raises(qf.PredictorError, match=r"no generator for classes \[10, 20\]"):
    qf.route(frames, small_predictor, partial)
  with pytest.raises(qf.PredictorError, match="no generator in the ensemble"):
    qf.route(frames, small_predictor, partial, override_class=10)
  with pytest.raises(qf.PredictorError, match="overlap"):
    qf.QualityClasses.bins("h264", "qp", [(22, 30), (28, 35)])


def test_qp_bins_map_any_value_inside():
  classes = qf.QualityClasses.bins("h264", "qp", qf.H264_QP_BINS, qf.H264_QP_VALUES)
  assert classes.index(30) == 1 and classes.index(51) == 4
  assert classes.labels[0] == "qp22-27"
  with pytest.raises(qf.PredictorError, match="qp=20"):
    classes.index(20)


def test_save_load_round_trip_and_damaged_files(small_predictor, tmp_path):
  d = qf.save_predictor(tmp_path / "p", small_predictor)
  loaded = qf.load_predictor(d)
  assert loaded.classes == small_predictor.classes and loaded.patch_size == 32
  frames = _frames()
  np.testing.assert_allclose(loaded.frame_logits(frames), small_predictor.frame_logits(frames),
                             rtol=1e-5, atol=1e-5)

  with pytest.raises(qf.PredictorError, match="not a saved quality predictor"):
    qf.load_predictor(tmp_path / "missing")
  params = d / qf.PARAMS_FILE
  good = params.read_bytes()
  params.write_bytes(good[: len(good) // 2])
  with pytest.raises(qf.PredictorError, match="truncated or damaged"):
    qf.load_predictor(d)
  params.write_bytes(good)
  meta = json.loads((d / qf.META_FILE).read_text())
  meta["net"]["dense"] = 32
  (d / qf.META_FILE).write_text(json.dumps(meta))
  with pytest.raises(qf.PredictorError, match="does not match"):
    qf.load_predictor(d)
  (d / qf.META_FILE).write_text("{not json")
  with pytest.raises(qf.PredictorError, match="damaged"):
    qf.load_predictor(d)
