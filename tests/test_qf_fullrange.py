"""The full-range JPEG quality predictor: QF/encoder sampling, the mjpeg path through PyAV, the
heads, routing of estimates to classes, and a tiny trained predictor routing QF 90 to the top
class."""

import io
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxenhance import assets, codecs, jpeg_encoders, jpeg_quality, qf_eval, qf_train
from jaxenhance.models import qf

KEY = jax.random.key(0, impl="rbg")


def _config(**overrides) -> ml_collections.ConfigDict:
  q = {"jpeg_encoders": ("pillow", "mjpeg"), "subsamplings": ("4:4:4", "4:2:2", "4:2:0"),
       "train_qf_range": (5, 95), "train_qf_grid": (), "encodes_per_image": 12,
       "patch_size": 32, "align": 16, "patches_per_image": 8, "min_patch_std": 2.0,
       "stem": "dct", "widths": (4, 8, 8, 8), "dense": 32, "channels": "luma", "max_step": 32,
       "num_patches": 8, "steps": 150, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.0,
       "log_every": 1000}
  q.update(overrides)
  return ml_collections.ConfigDict(q)


def test_draws_cover_the_quality_range_and_the_encoders():
  rng = np.random.default_rng(0)
  draws = [d for _ in range(40) for d in qf_train.jpeg_draws(_config(), rng)]
  qualities = np.asarray([d.quality for d in draws])
  assert qualities.min() >= 5 and qualities.max() <= 95
  assert len(np.unique(qualities)) > 60  # not six classes: most integers of 5-95 turn up
  assert (qualities > 75).sum() > 0.15 * len(draws)  # the high range is trained too
  assert {d.encoder for d in draws} == {"pillow", "mjpeg"}
  assert {d.subsampling for d in draws if d.encoder == "mjpeg"} == {"4:2:0"}
  assert {d.subsampling for d in draws if d.encoder == "pillow"} == {"4:4:4", "4:2:2", "4:2:0"}
  # The six-class recipe: every image at each grid value once.
  six = _config(jpeg_encoders=("pillow",), train_qf_grid=(5, 10, 20, 30, 40, 60),
                encodes_per_image=6)
  for _ in range(3):
    assert sorted(d.quality for d in qf_train.jpeg_draws(six, rng)) == [5, 10, 20, 30, 40, 60]


def test_mjpeg_through_pyav_writes_a_jpeg_whose_quality_the_tables_give():
  image = assets.sample_photo("coffee")[101:162, 200:275]  # 61 x 75: odd sides
  coded = jpeg_encoders.round_trip(image, "mjpeg", 75)
  with Image.open(io.BytesIO(coded.data)) as jpeg:
    assert jpeg.format == "JPEG" and jpeg.size == (75, 61)
  estimate = jpeg_quality.estimate_file(io.BytesIO(coded.data))
  assert (estimate.quality, estimate.exact) == (coded.quality, False)  # FFmpeg's own tables
  assert abs(coded.quality - 75) <= 3
  assert coded.decoded.shape == image.shape and codecs.psnr(coded.decoded, image) > 28
  # Its quality falls as qscale rises, and the nearest reachable quality is picked.
  table = jpeg_encoders.mjpeg_qualities()
  assert table[1] > 90 and table[31] <= 25 and table[2] > table[8] > table[20]
  assert jpeg_encoders.mjpeg_qscale(90) < jpeg_encoders.mjpeg_qscale(20)
  low = jpeg_encoders.round_trip(image, "mjpeg", 10)
  assert low.quality <= 12 and len(low.data) < len(coded.data)
  with pytest.raises(jpeg_encoders.JpegEncodeError, match="4:2:0 only"):
    jpeg_encoders.encode(image, "mjpeg", 50, "4:4:4")


def test_pillow_and_opencv_qualities_are_exact():
  pytest.importorskip("cv2")
  image = assets.sample_photo("astronaut")[:64, :96]
  for encoder in ("pillow", "opencv"):
    for quality, subsampling in [(7, "4:2:0"), (63, "4:2:2"), (93, "4:4:4")]:
      coded = jpeg_encoders.round_trip(image, encoder, quality, subsampling)
      assert (coded.quality, coded.exact) == (quality, True)


@pytest.mark.parametrize("kind", ["classes", "regression"])
def test_head_shapes_and_targets(kind):
  head = qf.QualityHead(kind, tuple(range(5, 100, 5)) if kind == "classes" else ())
  net = qf.QualityNet(num_classes=head.num_outputs, stem="dct", widths=(4, 8, 8, 8), dense=16,
                      max_step=32)
  x = jnp.zeros((3, 32, 32, 3))
  outputs = net.apply(jax.jit(net.init)(KEY, x), x)
  assert outputs.shape == (3, 19 if kind == "classes" else 1)
  assert head.quality(np.asarray(outputs)).shape == (3,)
  qualities = np.asarray([5, 12, 50, 77, 95])
  targets = head.targets(qualities)
  assert targets.shape == (5, head.num_outputs)
  if kind == "classes":
    np.testing.assert_allclose(targets.sum(1), 1.0, rtol=1e-6)
    assert (np.count_nonzero(targets, axis=1) <= 2).all()  # two-hot
    outputs = np.log(np.maximum(targets, 1e-12))  # logits whose softmax is the targets
  else:
    outputs = targets
  np.testing.assert_allclose(head.quality(outputs), qualities, atol=1e-3)
  with pytest.raises(qf.PredictorError, match="head kind"):
    qf.QualityHead("ordinal")


def test_estimates_route_to_the_nearest_class_on_the_step_axis():
  classes = qf.QualityClasses.jpeg()
  routed = {q: classes.values[classes.nearest(q)] for q in (3, 7, 9, 15, 33, 50, 75, 90, 95, 99)}
  assert routed == {3: 5, 7: 5, 9: 10, 15: 20, 33: 30, 50: 60, 75: 60, 90: 60, 95: 60, 99: 60}
  np.testing.assert_allclose(qf.qf_axis([5, 50, 95]), [1.0, 0.0, -1.0])
  np.testing.assert_allclose(qf.quality_from_axis(qf.qf_axis([7.5, 63.0])), [7.5, 63.0])
  bins = qf.QualityClasses.bins("h264", "qp", qf.H264_QP_BINS, qf.H264_QP_VALUES)
  assert [bins.values[bins.nearest(v)] for v in (10, 30, 60)] == [27, 32, 47]


@pytest.fixture(scope="module")
def tiny_predictor():
  """Trained on two photos from Pillow and mjpeg at QFs across 5-95, most of them between the
  classes or above them (a few seconds on 2 cores). A grid rather than uniform draws, so that
  40 encodes cover both ends."""
  q = _config(encodes_per_image=20, train_qf_grid=(5, 8, 12, 20, 30, 45, 60, 75, 90, 95),
              steps=250, lr=1e-2)
  groups = [(f"photo:{name}", assets.sample_photo(name)[None, :192, :192], 25.0)
            for name in ("astronaut", "chelsea")]
  classes = qf.QualityClasses.jpeg()
  head = qf.QualityHead("classes", tuple(range(5, 100, 5)))
  data = qf_train.jpeg_patch_dataset(q, groups, classes, head, seed=0)
  assert data["targets"].shape == (len(data["patches"]), 19)
  assert set(data["encoders"]) == {"pillow", "mjpeg"}
  return qf_train.train(q, data, classes, seed=0, log=lambda *_: None, head=head)


def test_tiny_predictor_routes_high_quality_to_the_highest_class(tiny_predictor):
  photo = assets.sample_photo("coffee")[:192, :256]  # a held-out photo
  frames, truth = [], []
  for encoder, quality in [("pillow", 95), ("pillow", 90), ("mjpeg", 90), ("pillow", 75),
                           ("pillow", 5), ("mjpeg", 5)]:
    coded = jpeg_encoders.round_trip(photo, encoder, quality)
    frames.append(coded.decoded)
    truth.append(coded.quality)
  index, probs = tiny_predictor.predict_class(np.stack(frames))
  values = np.asarray(tiny_predictor.classes.values)[index]
  # QF 75-95 go to the top class. The same tiny run on the six-class recipe (Pillow at QF 5,
  # 10, 20, 30, 40, 60 only, head="") sends this QF 95 image to class 40. QF 5 goes to a low
  # class (the tiny run sees QF 5 in 4 of its 40 encodes: 5 or a neighbour).
  np.testing.assert_array_equal(values[:4], [60, 60, 60, 60])
  assert (values[4:] <= 20).all(), values
  assert probs.shape == (6, 6)
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
  estimate = tiny_predictor.predict_quality(np.stack(frames))
  assert (estimate[:3] > 80).all() and (estimate[4:] < 20).all(), (estimate, truth)
  # route() goes where predict_class says.
  assert [tiny_predictor.classes.nearest(e) for e in estimate] == index.tolist()


def test_head_predictor_save_load_and_old_files(tiny_predictor, tmp_path):
  d = qf.save_predictor(tmp_path / "p", tiny_predictor)
  loaded = qf.load_predictor(d)
  assert loaded.head == tiny_predictor.head
  frames = assets.sample_photo("coffee")[None, :96, :96]
  np.testing.assert_allclose(loaded.predict_quality(frames),
                             tiny_predictor.predict_quality(frames), rtol=1e-5)
  # A format-1 file (the six-class predictor: no head) still loads.
  six = qf.Predictor(qf.QualityNet(num_classes=6, stem="dct", widths=(4, 8, 8, 8), dense=32,
                                   max_step=32),
                     None, qf.QualityClasses.jpeg(), 32, 8, 16)
  six.params = jax.jit(six.net.init)(KEY, jnp.zeros((1, 32, 32, 3)))
  old = qf.save_predictor(tmp_path / "old", six)
  meta = json.loads((old / qf.META_FILE).read_text())
  meta["format_version"] = 1
  del meta["head"]
  (old / qf.META_FILE).write_text(json.dumps(meta))
  assert qf.load_predictor(old).head is None
  meta["head"] = {"kind": "regression", "values": []}  # 6 outputs, but a head wants 1
  (old / qf.META_FILE).write_text(json.dumps(meta))
  with pytest.raises(qf.PredictorError, match="head wants 1"):
    qf.load_predictor(old)


def test_summary_counts_routing_and_lower_classes():
  results = {"classes": [5, 60], "qualities": [10, 90], "encoders": {"pillow": [
      {"target": 10, "true": [10, 10], "pred": [12.0, 30.0]},
      {"target": 90, "true": [90, 90], "pred": [88.0, 7.0]}]}}
  s = qf_eval.summarise(results)["pillow"]
  low, high = s["rows"]
  assert low["routed"] == {5: 1, 60: 1} and low["expected"] == 5 and low["lower"] == 0.0
  assert high["routed"] == {60: 1, 5: 1} and high["right"] == 0.5 and high["lower"] == 0.5
  assert s["totals"]["high"]["mae"] == pytest.approx((2 + 83) / 2)
  assert s["totals"]["all"]["count"] == 4
  text = qf_eval.markdown({"new": results}, "t", ["cmd"])
  assert "| 90 | 90 | 60 | 42.5 |" in text
