"""The evaluator on tiny real records and a tiny exported generator.

A freshly initialised generator is the identity (its output conv is zero-initialised), so its
enhanced rows must equal the compressed rows exactly; a perturbed one must differ.
"""

import json
import warnings

import jax
import numpy as np
import pytest
from train_helpers import tiny_config

from jaxenhance import evaluate, evaluation, export, inference
from jaxenhance.data import builder
from jaxenhance.metrics import fid as fid_lib
from jaxenhance.models import generator as generator_lib

CHEAP = ("psnr", "psnr_y", "ssim", "lpips")


@pytest.fixture(scope="module")
def records(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("records")
  config = tiny_config(workdir / "records")
  builder.build(config, workdir, num_workers=1)
  return workdir / "records"


@pytest.fixture(scope="module")
def fresh(records):
  config = tiny_config(records)
  generator = generator_lib.make_generator(config.generator)
  params = generator.init(jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  return config, generator, params


def test_identity_generator_gives_identical_rows_with_fid_and_kid(fresh, records, tmp_path):
  config, generator, params = fresh
  ev = evaluation.Evaluator(config, records, metrics=(*CHEAP, "fid", "kid"), max_examples=4)
  assert ev.count == 4
  results = ev.evaluate(generator, params)
  compressed, enhanced = results["overall"]["compressed"], results["overall"]["enhanced"]
  assert set(compressed) >= {"psnr", "ssim", "lpips", "fid", "kid", "bits_per_pixel", "count"}
  assert compressed == enhanced  # exactly: same 8-bit images through the same compiled metrics
  assert 15 < compressed["psnr"] < 45 and 0 < compressed["lpips"] < 1
  assert compressed["fid"] > 0 and compressed["bits_per_pixel"] > 0
  assert any("4 images" in n and "biased" in n for n in results["notes"])  # the count is said
  for kind in ("rung", "source"):
    groups = results["groups"][kind]
    assert sum(g["count"] for g in groups.values()) == 4
  assert set(results["groups"]["source"]) == {"sample:carphone"}

  files = evaluate.write_results(results, tmp_path / "eval")
  saved = json.loads((tmp_path / "eval" / "results.json").read_text())
  assert saved["overall"]["enhanced"]["psnr"] == pytest.approx(enhanced["psnr"])
  md = (tmp_path / "eval" / "results.md").read_text()
  assert "| compressed | 4 |" in md and "| enhanced | 4 |" in md and "FID" in md
  for name in ("metrics.png", "rate_quality.png", "examples.png"):
    assert (tmp_path / "eval" / name).stat().st_size > 1000, files


def test_changed_generator_changes_only_the_enhanced_row(fresh, records):
  config, generator, params = fresh
  # A constant brightening: the output conv's bias moves every pixel by +0.1 (with no
  # high-pass, which would remove exactly such a drift).
  generator = generator.clone(highpass=0)
  ev = evaluation.Evaluator(config, records, metrics=CHEAP, max_examples=8)
  compiled_before = inference.batch_fn.cache_info().misses
  identity = ev.run(generator, params)
  brighter = jax.tree_util.tree_map_with_path(
      lambda path, x: x + 0.1 if "out" in str(path) and "bias" in str(path) else x, params)
  changed = ev.run(generator, brighter)
  assert changed["compressed/psnr"] == identity["compressed/psnr"]
  assert changed["enhanced/psnr"] < identity["enhanced/psnr"] - 3
  assert changed["enhanced/lpips"] > identity["enhanced/lpips"]
  # One compilation serves both parameter sets.
  assert inference.batch_fn.cache_info().misses - compiled_before <= 1
  assert identity["count"] == ev.count == 8


def test_run_stage_writes_eval_dir_and_notes_niqe_on_small_patches(fresh, records, tmp_path):
  config, _, params = fresh
  config = config.copy_and_resolve_references()
  config.eval.metrics = ("psnr", "ssim", "niqe")
  export.save_generator(tmp_path / "export", config.generator, params, {"step": 0})
  summary = evaluate.run_stage(config, tmp_path)
  assert summary["enhanced"]["psnr"] == summary["compressed"]["psnr"]
  assert "niqe" not in summary["enhanced"]
  assert any("NIQE not computed" in n for n in summary["notes"])
  assert (tmp_path / "eval" / "results.json").is_file()
  assert (tmp_path / "eval" / "results.md").is_file()


def test_clip_mode_evaluates_whole_frames(fresh):
  config, generator, params = fresh
  from jaxenhance import codecs
  encoded = evaluation.encode_clips(config, ["sample:carphone"],
                                  [codecs.EncodeSettings("jpeg", "qf", 10)], max_frames=3)
  batches = evaluation.clip_batches(encoded, temporal_window=1, batch_size=2)
  assert [b.count for b in batches] == [2, 1] and batches[0].gt.shape[1:] == (72, 88, 3)
  ev = evaluation.Evaluator(config, batches=batches, metrics=("psnr",))
  results = ev.evaluate(generator, params)
  assert list(results["groups"]["rung"]) == ["jpeg_qf10"]
  assert results["overall"]["compressed"]["bits_per_pixel"] == pytest.approx(
      encoded[0][2].bits_per_pixel)
  assert results["overall"]["compressed"] == results["overall"]["enhanced"]


def test_clip_mode_gives_a_qp_conditioned_model_the_decoders_map(fresh):
  """H.264 clips keep the decoder's QP map per frame and the model reads it; JPEG's is unknown."""
  config, _, _ = fresh
  from jaxenhance import codecs

  rungs = [codecs.EncodeSettings("h264", "qp", 37, preset="ultrafast"),
           codecs.EncodeSettings("jpeg", "qf", 10)]
  encoded = evaluation.encode_clips(config, ["sample:carphone"], rungs, max_frames=3,
                                    quantisers=True)
  batches = evaluation.clip_batches(encoded, temporal_window=1, batch_size=3)
  h264, jpeg = batches
  assert h264.qp_map.shape == (3, 72, 88) and (h264.qp_map[0] == 34).all()  # I frame: 37 - 3
  assert (h264.qp_map[1:] <= 51).all() and (jpeg.qp_map == 255).all()
  cfg = config.generator.to_dict() | {"conditioning": "codec_qp"}
  generator = generator_lib.make_generator(cfg)
  params = generator.init(jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda p: p + 0.05 * rng.standard_normal(p.shape).astype(np.float32),
                        params)
  ev = evaluation.Evaluator(config, batches=[h264], metrics=("psnr",))
  blind = evaluation.Evaluator(config, batches=[evaluation.EvalBatch(
      h264.lq, h264.gt, h264.mask, h264.rung, h264.source, h264.bits_per_pixel)],
                               metrics=("psnr",))
  told, not_told = (e.evaluate(generator, params)["overall"]["enhanced"]["psnr"]
                    for e in (ev, blind))
  assert told != not_told


def test_nan_generator_is_an_error(fresh, records):
  config, generator, params = fresh
  ev = evaluation.Evaluator(config, records, metrics=("psnr",), max_examples=3)
  poisoned = jax.tree.map(lambda x: x * np.nan, params)
  with pytest.raises(evaluation.EvaluationError, match="3 of 3 images .* NaN"):
    ev.run(generator, poisoned)


def test_bad_input_messages(fresh, tmp_path):
  config, _, _ = fresh
  with pytest.raises(evaluation.EvaluationError, match="empty"):
    evaluation.EvalBatch.from_images([], [])
  with pytest.raises(evaluation.EvaluationError, match="empty"):
    evaluation.Evaluator(config, batches=[], metrics=("psnr",))
  lq = [np.zeros((32, 32, 3), np.uint8), np.zeros((40, 32, 3), np.uint8)]
  with pytest.raises(evaluation.EvaluationError, match="mixed sizes"):
    evaluation.EvalBatch.from_images(lq, lq)
  with pytest.raises(evaluation.EvaluationError, match="differ in count or size"):
    evaluation.EvalBatch(lq=lq[0][None], gt=lq[0][None, :16], mask=np.ones(1, bool),
                       rung=["a"], source=["b"], bits_per_pixel=np.ones(1))
  with pytest.raises(evaluation.EvaluationError, match="uint8"):
    evaluation.EvalBatch.from_images([lq[0] / 255.0], [lq[0]])
  with pytest.raises(evaluation.EvaluationError, match="unknown metric"):
    evaluation.Evaluator(config, batches=evaluation.EvalBatch.from_images(lq[:1], lq[:1]),
                       metrics=("psnr", "brisque"))
  with pytest.raises(export.ExportError, match="train first"):
    export.resolve(tmp_path)
  with pytest.raises(evaluation.EvaluationError, match="at least 2"):
    evaluation.fid_of_features(np.zeros((1, 8)), np.zeros((5, 8)))


@pytest.mark.parametrize("n1,n2", [(12, 20), (30, 9), (80, 70)])
def test_low_rank_fid_equals_the_reference(n1, n2):
  rng = np.random.default_rng(n1)
  x, y = rng.normal(size=(n1, 64)), 1.3 * rng.normal(size=(n2, 64)) + 0.2
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    expected = fid_lib.fid_from_features(x, y)[0]
  assert evaluation.fid_of_features(x, y) == pytest.approx(expected, rel=1e-7)
