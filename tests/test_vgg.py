"""VGG-16 in Flax: parity with torch on the same weights, taps, and bad input."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxenhance.models import vgg

REFERENCE = Path(__file__).parent / "data" / "vgg16_reference.npz"


def test_parity_with_torch_reference(vgg_params):
  """Max-abs error relative to the reference's max-abs value, per tap, <= 1e-4.

  The reference was made by tests/reference/make_vgg_reference.py with torch on the same weights.
  """
  ref = np.load(REFERENCE)
  taps = tuple(k for k in ref.files if k != "images")
  images = jnp.asarray(ref["images"], jnp.float32) / 255.0
  out = vgg.extract(vgg_params, images, taps)
  assert set(out) == set(taps)
  for tap in taps:
    got, want = np.asarray(out[tap]), ref[tap]
    assert got.shape == want.shape, tap
    rel = np.abs(got - want).max() / np.abs(want).max()
    assert rel <= 1e-4, f"{tap}: relative max error {rel:.2e}"


def test_params_are_the_verified_weights(vgg_params):
  assert vgg.num_params(vgg_params) == 14_714_688
  kernels = [vgg_params["params"][f"Conv_{i}"]["kernel"].shape for i in range(13)]
  assert kernels[0] == (3, 3, 3, 64) and kernels[-1] == (3, 3, 512, 512)


def test_stops_at_deepest_tap(vgg_params):
  """Requesting relu2_2 builds only four convolutions (nothing past the tap is computed)."""
  images = jnp.zeros((1, 32, 32, 3))
  jaxpr = jax.make_jaxpr(lambda p, x: vgg.VGG16(taps=("relu2_2",)).apply(p, x))(vgg_params, images)
  convs = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "conv_general_dilated"]
  assert len(convs) == 4
  out = vgg.extract(vgg_params, images, ["relu1_1", "relu2_2"])
  assert out["relu1_1"].shape == (1, 32, 32, 64) and out["relu2_2"].shape == (1, 16, 16, 128)


def test_layer_tables():
  assert len(vgg.CONV_LAYERS) == len(vgg.RELU_LAYERS) == 13 and len(vgg.LAYERS) == 31
  assert vgg.STRIDES["relu1_2"] == 1 and vgg.STRIDES["relu3_3"] == 4 and vgg.STRIDES["pool5"] == 32
  assert vgg.CHANNELS["relu4_3"] == 512 and vgg.CHANNELS["pool2"] == 128


def test_unknown_tap_lists_valid_names(vgg_params):
  with pytest.raises(ValueError, match="valid names are: conv1_1"):
    vgg.extract(vgg_params, jnp.zeros((1, 16, 16, 3)), ["relu3_4"])


@pytest.mark.parametrize("images,error", [
    (np.zeros((1, 16, 16, 3), np.uint8), TypeError),  # uint8 instead of float in [0, 1]
    (np.zeros((16, 16, 3), np.float32), ValueError),  # missing batch axis
    (np.zeros((1, 16, 16, 1), np.float32), ValueError),  # gray
])
def test_bad_images(vgg_params, images, error):
  with pytest.raises(error):
    vgg.VGG16(taps=("relu1_1",)).apply(vgg_params, jnp.asarray(images))
