"""Perceptual layer selection: scoring validated on filters of known tuning, reports, bad input.

The "networks" here are one-layer banks of Gabor and difference-of-Gaussians filters (their
tuning is known by construction), plus a small real VGG-16 probe at 32x32.
"""

import importlib.util
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxenhance.perception import csf, gratings, plots, probe, scoring, selection

SIZE = 64
SPEC = gratings.StimulusSpec(size=SIZE, num_freqs=16, num_orients=16)
FREQS, THETAS = SPEC.frequencies(), SPEC.orientations()
KSIZE = 63  # odd, so the kernel centre is a pixel
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _load_config(name, arg=None):
  spec = importlib.util.spec_from_file_location(f"_config_{name[:-3]}", CONFIGS / name)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def _grid(size):
  c = np.arange(size) - size // 2
  return np.meshgrid(c, c, indexing="ij")  # y (rows), x (columns)


def gabor(f, theta, sigma=None):
  """Zero-mean even Gabor, carrier along (cos theta, sin theta) like the gratings."""
  y, x = _grid(KSIZE)
  sigma = 1.0 / f if sigma is None else sigma
  env = np.exp(-(x**2 + y**2) / (2 * sigma**2))
  g = env * np.cos(2 * np.pi * f * (x * np.cos(theta) + y * np.sin(theta)))
  g -= env * g.sum() / env.sum()  # no DC: a uniform field gives zero response
  return g / np.abs(g).sum()


def dog(sigma):
  """Isotropic difference of Gaussians with zero DC."""
  y, x = _grid(KSIZE)
  r2 = x**2 + y**2
  g1, g2 = np.exp(-r2 / (2 * sigma**2)), np.exp(-r2 / (2 * (1.6 * sigma)**2))
  return g1 / g1.sum() - g2 / g2.sum()


def filter_bank_network(kernels):
  """A one-layer network: linear filters (zero-padded convolution, via FFT) + ReLU."""
  kern = jnp.asarray(np.stack(kernels, -1), jnp.float32)

  def features(images):
    n = images.shape[1] + KSIZE
    spectrum = jnp.fft.rfft2(images[..., 0], (n, n))[..., None]
    out = jnp.fft.irfft2(spectrum * jnp.fft.rfft2(kern, (n, n), axes=(0, 1)), (n, n), axes=(1, 2))
    off = KSIZE // 2
    return {"bank": jax.nn.relu(out[:, off:off + images.shape[1], off:off + images.shape[2]])}

  return features


@pytest.fixture(scope="module")
def gabor_bank():
  """Gabors at 3 grid frequencies x 4 grid orientations, plus 2 isotropic DoGs (probed once)."""
  construction = [(fi, ti) for fi in (9, 11, 13) for ti in (0, 3, 8, 13)]
  kernels = [gabor(FREQS[fi], THETAS[ti]) for fi, ti in construction]
  kernels += [dog(1.5), dog(3.0)]
  result = probe.probe(filter_bank_network(kernels), SPEC, ["bank"], batch_size=64)
  return construction, result


def test_gabor_bank_orientation_and_preferred_frequency(gabor_bank):
  construction, result = gabor_bank
  s = scoring.score_layers(result.responses, result.freqs, result.thetas,
                           scoring.ScoringSpec(), SIZE)["bank"]
  n = len(construction)
  assert s.responsive.all()
  np.testing.assert_array_equal(s.preferred_index[:n], [fi for fi, _ in construction])
  np.testing.assert_allclose(s.preferred_orient[:n], [THETAS[ti] for _, ti in construction])
  assert s.s_o[:n].min() > 0.85, s.s_o[:n]
  # Isotropic filters: no orientation preference.
  assert s.s_o[n:].max() < 0.05, s.s_o[n:]


@pytest.mark.parametrize("ppd", [32.0, 64.0])
def test_frequency_score_peaks_where_the_csf_peaks(ppd):
  """Among Gabors tuned to each grid frequency, S_F is highest at the CSF peak's frequency."""
  indices = list(range(5, 15))
  kernels = [gabor(FREQS[i], 0.0) for i in indices]
  spec = gratings.StimulusSpec(size=SIZE, num_freqs=16, num_orients=2)
  result = probe.probe(filter_bank_network(kernels), spec, ["bank"], batch_size=64)
  s = scoring.score_layers(result.responses, result.freqs, result.thetas,
                           scoring.ScoringSpec(ppd=ppd), SIZE)["bank"]
  peak_cpp = csf.peak("mannos_sakrison")[0] / ppd
  want = indices[int(np.argmin(np.abs(np.log(FREQS[indices] / peak_cpp))))]
  assert abs(indices[int(np.argmax(s.s_f))] - want) <= 1, (s.s_f, want)
  assert s.s_f.max() > 0.8
  # Far from the peak the score falls: lowest-frequency filter scores well below the best.
  assert s.s_f[0] < 0.75 * s.s_f.max()


def test_scores_match_formulas_on_hand_made_responses():
  """A channel that fires only at (f_3, theta_2) gets S_O = 1 and S_F = CSF weight of f_3."""
  freqs, thetas = FREQS[:6], np.arange(8) * np.pi / 8
  r = np.zeros((6, 8, 3))
  r[3, 2, 0] = 2.0  # perfectly selective
  r[:, :, 1] = 1.0  # flat: S_O = 0, S_F = mean CSF weight
  # channel 2 stays silent -> flagged
  spec = scoring.ScoringSpec(ppd=32.0)
  w = csf.normalized(freqs, 32.0)
  s = scoring.score_layer(r, freqs, thetas, w, spec)
  np.testing.assert_allclose(s.s_o[:2], [1.0, 0.0], atol=1e-12)
  np.testing.assert_allclose(s.s_f[:2], [w[3], w.mean()])
  np.testing.assert_array_equal(s.responsive, [True, True, False])
  assert s.responsive_fraction == pytest.approx(2 / 3)
  assert s.score == pytest.approx((w[3] * 1.0 + w.mean() * 0.0) / 2)


def test_csf_models():
  u = np.array([0.5, 4.0, 8.0, 30.0])
  ms = csf.mannos_sakrison(u)
  np.testing.assert_allclose(ms, 2.6 * (0.0192 + 0.114 * u) * np.exp(-(0.114 * u) ** 1.1))
  assert 7.5 < csf.peak("mannos_sakrison")[0] < 8.5
  assert 2.0 < csf.peak("barten", luminance=100.0, field_deg=7.0)[0] < 6.0
  w = csf.normalized(FREQS, 32.0, "barten", luminance=100.0, field_deg=2.0)
  assert w.max() <= 1.0 + 1e-9 and w.min() > 0
  with pytest.raises(ValueError, match="Unknown CSF model"):
    csf.get_model("daly")


def test_gratings():
  g = gratings.grating(32, 0.125, 0.0, 0.5 * np.pi)
  assert g.shape == (32, 32, 3) and g.min() >= 0 and g.max() <= 1
  np.testing.assert_allclose(g[:, 0, 0], g[0, 0, 0])  # theta=0 varies along x only
  np.testing.assert_allclose(g[0, :8, 0], g[0, 8:16, 0], atol=1e-6)  # period 8 pixels
  half = gratings.grating(32, 0.125, 0.0, contrast=0.5)
  assert half.max() <= 0.75 + 1e-6 and half.min() >= 0.25 - 1e-6
  assert SPEC.frequencies()[0] == pytest.approx(1 / SIZE) and SPEC.frequencies()[-1] == 0.5


@pytest.mark.parametrize("kwargs,match", [
    ({"f_max": 0.7}, "above the Nyquist limit"),
    ({"f_min": 0.0}, "positive"),
    ({"f_min": 0.4, "f_max": 0.3}, "below f_max"),
    ({"contrast": 1.5}, "Contrast"),
    ({"num_orients": 1}, "at least 2"),
])
def test_bad_stimulus(kwargs, match):
  with pytest.raises(ValueError, match=match):
    gratings.StimulusSpec(size=32, **kwargs)


def test_unknown_layer_is_refused_before_computing():
  net = filter_bank_network([dog(2.0)])
  with pytest.raises(ValueError, match="not returned by the network; it returns: bank"):
    probe.probe(net, gratings.StimulusSpec(size=16, num_freqs=3, num_orients=2), ["relu9_9"])


def test_silent_layer_is_flagged_not_nan_and_cannot_be_selected(tmp_path):
  spec = gratings.StimulusSpec(size=16, num_freqs=4, num_orients=4)

  def features(images):  # "dead" second layer: ReLU of a negative constant
    return {"live": jax.nn.relu(images - 0.5), "dead": jnp.zeros_like(images)}

  result = probe.probe(features, spec, ["live", "dead"], batch_size=8)
  sspec = scoring.ScoringSpec()
  scores = scoring.score_layers(result.responses, result.freqs, result.thetas, sspec, 16)
  assert scores["dead"].score is None and scores["dead"].flags == ["no_responsive_channels"]
  assert scores["dead"].responsive_fraction == 0.0
  layer_scores = {n: s.score for n, s in scores.items()}
  with pytest.raises(ValueError, match="only 1 layer"):
    selection.select(layer_scores, top_k=2)
  chosen = selection.select(layer_scores, top_k=1)
  report = selection.build_report(result, scores, sspec, chosen, network="toy", top_k=1,
                                  threshold=None)
  path = selection.write_report(report, tmp_path / "report.json")  # allow_nan=False
  text = path.read_text()
  assert "NaN" not in text and json.loads(text)["layers"]["dead"]["score"] is None
  with pytest.raises(ValueError, match="no responsive channel"):
    selection.channel_masks(path, ["dead"], 0.5)


def test_selection_rules():
  scores = {"a": 0.1, "b": 0.5, "c": None, "d": 0.3}
  assert selection.ranking(scores) == ["b", "d", "a"]
  assert selection.select(scores, top_k=2) == ["b", "d"]
  assert selection.select(scores, threshold=0.2) == ["b", "d"]
  assert selection.select(scores, top_k=9, threshold=0.05) == ["a", "b", "d"]
  with pytest.raises(ValueError, match="larger than the number of probed layers"):
    selection.select(scores, top_k=5)
  with pytest.raises(ValueError, match="No layer scores above threshold"):
    selection.select(scores, threshold=0.9)
  with pytest.raises(ValueError, match="positive integer"):
    selection.select(scores, top_k=0)


def test_report_masks_and_plots_from_gabor_bank(gabor_bank, tmp_path):
  construction, result = gabor_bank
  sspec = scoring.ScoringSpec(ppd=32.0)
  scores = scoring.score_layers(result.responses, result.freqs, result.thetas, sspec, SIZE)
  report = selection.build_report(result, scores, sspec, ["bank"], network="gabor_bank",
                                  top_k=1, threshold=None)
  path = selection.write_report(report, tmp_path / "report.json")
  assert selection.load_selected_layers(path, network="gabor_bank") == ("bank",)
  with pytest.raises(ValueError, match="not 'vgg16'"):
    selection.load_selected_layers(path)
  loaded = selection.load_report(path)
  assert loaded["params"]["probe"]["stimulus"]["size"] == SIZE
  assert loaded["params"]["scoring"]["ppd"] == 32.0
  assert sum(loaded["layers"]["bank"]["preferred_freq_histogram"]) == len(construction) + 2
  masks = selection.channel_masks(path, ["bank"], keep_fraction=0.25)
  mask = masks["bank"]
  assert mask.dtype == bool and mask.shape == (len(construction) + 2,)
  assert mask.sum() == 4
  assert not mask[-2:].any()  # the isotropic DoGs score lowest
  with pytest.raises(ValueError, match="not in the report"):
    selection.channel_masks(path, ["relu1_1"], 0.5)
  with pytest.raises(ValueError, match="keep_fraction"):
    selection.channel_masks(path, ["bank"], 0.0)
  files = plots.write_all(report, result, scores, tmp_path / "plots")
  assert all(p.stat().st_size > 1000 for p in files)


def test_missing_report_says_how_to_make_one(tmp_path):
  with pytest.raises(FileNotFoundError, match="select_layers"):
    selection.load_selected_layers(tmp_path / "nope.json")
  (tmp_path / "bad.json").write_text("{}")
  with pytest.raises(ValueError, match="Not a layer-selection report"):
    selection.load_selected_layers(tmp_path / "bad.json")


def test_cache_reuses_matching_probe_only(tmp_path):
  net = filter_bank_network([gabor(0.25, 0.0, 3.0)])
  spec = gratings.StimulusSpec(size=16, num_freqs=4, num_orients=4)
  first = probe.cached_probe(net, spec, ["bank"], tmp_path, network_id="toy:1", batch_size=8)
  again = probe.cached_probe(lambda x: 1 / 0, spec, ["bank"], tmp_path, network_id="toy:1")
  np.testing.assert_array_equal(first.responses["bank"], again.responses["bank"])
  assert len(list(tmp_path.glob("probe_toy_*.npz"))) == 1
  other = gratings.StimulusSpec(size=16, num_freqs=5, num_orients=4)
  probe.cached_probe(net, other, ["bank"], tmp_path, network_id="toy:1", batch_size=8)
  assert len(list(tmp_path.glob("probe_toy_*.npz"))) == 2


def test_cli_stage_on_real_vgg16_writes_report_the_critic_reads(tmp_path):
  """The CLI's stage at 32x32 on two real VGG-16 layers: finite scores in [0, 1], a report the
  critic reads, figures; a rescore with another ppd reuses the cached probe."""
  from jaxenhance import select_layers
  from jaxenhance.models import critic

  config = _load_config("select_layers.py")
  sel = config.selection
  sel.size, sel.num_freqs, sel.num_orients = 32, 6, 4
  sel.layers, sel.top_k, sel.cache_dir = "relu2_1,relu1_1", 1, str(tmp_path / "cache")
  summary = select_layers.run_stage(config, tmp_path / "work")
  report_path = tmp_path / "work" / "selection" / "report.json"
  assert summary["report"] == str(report_path)
  assert len(summary["selected_layers"]) == 1
  assert select_layers.selection.load_selected_layers(report_path) == tuple(
      summary["selected_layers"])
  assert critic.resolve_layers("selected", report_path) == tuple(summary["selected_layers"])
  report = json.loads(report_path.read_text())
  assert list(report["layers"]) == ["relu1_1", "relu2_1"]  # network order
  assert report["params"]["probe"]["network"].startswith("vgg16:")
  for layer in report["layers"].values():
    assert 0.0 < layer["score"] <= 1.0 and 0.0 < layer["responsive_fraction"] <= 1.0
    assert len(layer["channels"]["s_o"]) == layer["num_channels"]
    assert all(0.0 <= v <= 1.0 for v in layer["channels"]["s_o"] + layer["channels"]["s_f"])
  assert {p.name for p in (tmp_path / "work" / "selection").glob("*.png")} == {
      "layer_scores.png", "tuning_curves.png", "orientation_polar.png", "preferred_frequency.png"}
  sel.ppd, sel.top_k = 64.0, 2
  again = select_layers.run_stage(config, tmp_path / "work")
  assert again["probe_seconds"] < 2.0  # cached: no network evaluation
  assert again["selected_layers"] == ["relu1_1", "relu2_1"]
  sel.top_k = 3
  with pytest.raises(ValueError, match="larger than the number of probed layers"):
    select_layers.run_stage(config, tmp_path / "work")
  sel.layers = "relu1_1,relu9_1"
  with pytest.raises(ValueError, match="valid names are"):
    select_layers.run_stage(config, tmp_path / "work")


def test_second_network_fid_inception_taps():
  """The probe on another Flax CNN (FID InceptionV3) through its named taps; stem layers only,
  so XLA drops the rest of the network."""
  from jaxenhance.perception import networks

  net = networks.get_network("inception_v3")
  with pytest.raises(ValueError, match="must be probed at its input size 299"):
    net.check_size(224)
  with pytest.raises(ValueError, match="Unknown inception_v3 layer"):
    net.resolve_layers(["relu1_1"])
  layers = net.resolve_layers("Conv2d_2a_3x3,Conv2d_1a_3x3")
  assert layers == ("Conv2d_1a_3x3", "Conv2d_2a_3x3")
  spec = gratings.StimulusSpec(size=299, num_freqs=3, num_orients=2, f_min=0.05, f_max=0.25)
  result = probe.probe(net.make_features_fn(layers), spec, layers, params=net.params,
                       batch_size=8, network_id=net.network_id)
  assert result.responses["Conv2d_1a_3x3"].shape == (3, 2, 32)
  assert result.responses["Conv2d_2a_3x3"].shape == (3, 2, 32)
  scores = scoring.score_layers(result.responses, result.freqs, result.thetas,
                                scoring.ScoringSpec(), 299)
  assert all(s.score is not None and 0 < s.score <= 1 for s in scores.values())
