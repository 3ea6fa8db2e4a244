"""NIQE against basicsr's implementation (the MATLAB port) on real photos and a real video frame.

Reference values: basicsr-volta 1.4.4 ``calculate_niqe`` run by
tests/reference/make_metric_references.py on the same images.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from jaxenhance.metrics import niqe

HERE = Path(__file__).resolve().parent
REF = np.load(HERE / "data" / "metric_reference.npz")
_spec = importlib.util.spec_from_file_location(
    "make_metric_references", HERE / "reference" / "make_metric_references.py")
mref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mref)


@pytest.fixture(scope="module")
def model():
  return niqe.load_model()


@pytest.mark.parametrize("name", mref.NIQE_IMAGES)
def test_niqe_matches_basicsr(name, model):
  value = float(niqe.niqe(mref.named_image(name), model=model)[0])
  # Measured: ≤ 5e-4 relative (bikes0), ≤ 3e-5 on the three photos.
  assert value == pytest.approx(float(REF[f"niqe/{name}"]), rel=1e-3)


def test_niqe_input_conventions_and_quality_order(model):
  photo = mref.named_image("chelsea")[:192, :288]
  from_uint8 = niqe.niqe(photo, model=model)
  from_float = niqe.niqe(photo.astype(np.float32) / 255, model=model)
  np.testing.assert_allclose(from_float, from_uint8, rtol=1e-6)
  # Heavy blur + noise is less natural: NIQE goes up.
  worse = niqe.niqe(mref.distorted(mref.distorted(photo, 1), 2), model=model)
  assert worse[0] > from_uint8[0] + 0.5


def test_niqe_refuses_too_small_images(model):
  with pytest.raises(ValueError, match="two 96×96 blocks"):
    niqe.niqe(np.zeros((100, 150, 3), np.uint8), model=model)
  with pytest.raises(ValueError, match="expects images"):
    niqe.niqe(np.zeros((2, 200, 200, 4), np.uint8), model=model)
