"""FID/KID: parity with torch-fidelity and pytorch-fid, analytic cases, statistics cache, bad input.

Reference values come from tests/reference/make_metric_references.py (torch-fidelity 0.4.0 and
pytorch-fid 0.3.0 run on the same seeded features, float64).
"""

import importlib.util
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxenhance.metrics import fid

HERE = Path(__file__).resolve().parent
REF = np.load(HERE / "data" / "metric_reference.npz")
_spec = importlib.util.spec_from_file_location(
    "make_metric_references", HERE / "reference" / "make_metric_references.py")
mref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mref)
SETS = {s[0]: s for s in mref.FEATURE_SETS}


@pytest.mark.parametrize("name", ["d64", "d64small", "d2048"])
def test_fid_matches_torch_fidelity_and_pytorch_fid(name):
  _, dim, n1, n2, _, _ = SETS[name]
  f1, f2 = mref.feature_pair(dim, n1, n2)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    value, info = fid.fid_from_features(f1, f2)
  for key in ("fid_torch_fidelity", "fid_pytorch_fid"):
    assert value == pytest.approx(float(REF[f"{name}/{key}"]), rel=1e-6), key
  assert (info["count1"], info["count2"], info["dim"]) == (n1, n2, dim)
  # Fewer samples than dims: singular covariances, a warning, clipped eigenvalues reported.
  singular = n1 < dim
  assert any("singular" in str(w.message) for w in caught) == singular
  if singular:
    assert info["clipped_eigenvalues_product"] > 0 and info["min_eigenvalue_product"] > -1e-10


@pytest.mark.parametrize("name", ["d64", "d64small", "d2048"])
def test_kid_matches_torch_fidelity(name):
  _, dim, n1, n2, subsets, subset_size = SETS[name]
  f1, f2 = mref.feature_pair(dim, n1, n2)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    # d64small has fewer samples than 1000: the subset size drops to 250 by itself.
    result = fid.kid(f1, f2, num_subsets=subsets)
  assert result["subset_size"] == subset_size
  assert result["kid_mean"] == pytest.approx(float(REF[f"{name}/kid_mean"]), rel=1e-4)
  # Our kernels are float32 (jitted); each subset's MMD² is off by ~1e-6 of KID, which is what
  # a 3-subset std can differ by.
  assert result["kid_std"] == pytest.approx(float(REF[f"{name}/kid_std"]),
                                            rel=1e-3, abs=1e-5 * result["kid_mean"])


def test_fid_of_a_set_with_itself_is_zero():
  f1, _ = mref.feature_pair(64, 1500, 10)
  value, info = fid.fid_from_features(f1, f1)
  assert abs(value) < 1e-8 * info["trace_sqrt_product"]


def test_frechet_distance_of_known_gaussians():
  rng = np.random.default_rng(0)
  d = 40
  # Commuting case: diagonal covariances, FID = |dmu|² + Σ (sqrt a - sqrt b)².
  a, b = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
  mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
  value, _ = fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  assert value == pytest.approx(expected, rel=1e-10)
  # Non-commuting: S1 = s² I, S2 = Q diag(c) Qᵀ -> tr sqrt(S1 S2) = s Σ sqrt(c).
  q, _ = np.linalg.qr(rng.normal(size=(d, d)))
  c = rng.uniform(0.1, 3.0, d)
  s = 1.7
  value, _ = fid.frechet_distance(mu1, s**2 * np.eye(d), mu1, (q * c) @ q.T)
  assert value == pytest.approx(d * s**2 + c.sum() - 2 * s * np.sqrt(c).sum(), rel=1e-10)


def test_feature_stats_are_batch_independent_and_cached(tmp_path):
  f1, _ = mref.feature_pair(64, 1500, 10)
  stats = fid.FeatureStats()
  for start in range(0, 1500, 97):  # uneven batches, float32 input as a device would give
    stats.update(jnp.asarray(f1[start:start + 97], jnp.float32))
  f32 = f1.astype(np.float32).astype(np.float64)
  np.testing.assert_allclose(stats.mean, f32.mean(0), rtol=1e-12, atol=1e-12)
  np.testing.assert_allclose(stats.cov, np.cov(f32, rowvar=False), rtol=1e-10, atol=1e-12)
  path = tmp_path / "ref_stats.npz"
  stats.save(path, extractor="test", images="seeded features")
  loaded = fid.FeatureStats.load(path)
  assert loaded.count == 1500 and loaded.metadata["extractor"] == "test"
  assert "created" in loaded.metadata
  np.testing.assert_array_equal(loaded.cov, stats.cov)
  (tmp_path / "bad.npz").write_bytes(b"not an npz")
  with pytest.raises(ValueError, match="recompute"):
    fid.FeatureStats.load(tmp_path / "bad.npz")


def test_features_from_images_pads_the_last_batch_and_drops_it():
  calls = []

  @jax.jit
  def extract(images):  # a tiny "network": per-image channel means and a max
    return jnp.concatenate([images.mean(axis=(1, 2)), images.max(axis=(1, 2, 3))[:, None]], -1)

  def counted(images):
    calls.append(images.shape)
    return extract(images)

  rng = np.random.default_rng(0)
  images = rng.uniform(size=(11, 8, 8, 3)).astype(np.float32)
  stream = [images[:3], images[3], images[4:11]]  # mixed batch / single image items
  stats = fid.features_from_images(counted, stream, batch=4)
  assert stats.count == 11 and set(calls) == {(4, 8, 8, 3)}
  expected = np.asarray(extract(images), np.float64)
  np.testing.assert_allclose(stats.mean, expected.mean(0), rtol=1e-6)
  with pytest.raises(ValueError, match="no images"):
    fid.features_from_images(counted, [], batch=4)


def test_bad_input_is_refused_clearly():
  good = np.ones((10, 4))
  with pytest.raises(ValueError, match="NaN"):
    fid.FeatureStats().update(np.where(np.eye(10, 4) > 0, np.nan, good))
  with pytest.raises(ValueError, match="at least 2 sample"):
    _ = fid.FeatureStats().cov  # empty set
  with pytest.raises(ValueError, match="empty"):
    fid.fid_from_stats(fid.FeatureStats(), fid.FeatureStats())
  with pytest.raises(ValueError, match="2-D"):
    fid.FeatureStats().update(np.ones(5))
  with pytest.raises(ValueError, match="NaN"):
    fid.kid(good, np.full((10, 4), np.nan))
  with pytest.raises(ValueError, match="dims differ"):
    fid.kid(good, np.ones((10, 5)))


def test_singular_covariance_uses_rank_revealing_factor():
  # Fewer samples than dimensions: S1 is singular. The pivoted-Cholesky route must give the value
  # of the (slow) eigendecomposition route on the same statistics.
  rng = np.random.default_rng(1)
  x = np.maximum(rng.normal(size=(60, 128)) @ rng.normal(size=(128, 128)) / 11 + 0.3, 0)
  y = np.maximum(rng.normal(size=(300, 128)) @ rng.normal(size=(128, 128)) / 11 + 0.3, 0)
  s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
  value, info = fid.frechet_distance(x.mean(0), s1, y.mean(0), s2)
  assert info["factorisation"].startswith("pivoted_cholesky") and "rank 59" in info["factorisation"]
  w, v = np.linalg.eigh(s1)
  f = v * np.sqrt(np.clip(w, 0, None))
  e = np.clip(np.linalg.eigvalsh(f.T @ s2 @ f), 0, None)
  expected = (np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(s1) + np.trace(s2)
              - 2 * np.sqrt(e).sum())
  assert value == pytest.approx(expected, rel=1e-7)
