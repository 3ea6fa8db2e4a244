"""Winograd F(4x4, 3x3) equals XLA's 3x3 convolution; the generator gives the same output with it."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxenhance.models import generator as generator_lib
from jaxenhance.models import winograd


@pytest.mark.parametrize("shape", [(1, 8, 8, 4, 5), (2, 13, 17, 3, 6), (1, 5, 3, 2, 2)])
def test_matches_direct_convolution(shape):
  n, h, w, cin, cout = shape
  key_x, key_k = jax.random.split(jax.random.PRNGKey(0))
  x = jax.random.normal(key_x, (n, h, w, cin))
  kernel = jax.random.normal(key_k, (3, 3, cin, cout))
  want = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))
  got = winograd.conv3x3_same(x, kernel)
  # float32 transforms: ~1e-6 of the output's scale (here |y| ~ 10).
  np.testing.assert_allclose(got, want, atol=5e-5 * float(jnp.max(jnp.abs(want))))


def test_narrow_or_other_convs_fall_back_to_xla(monkeypatch):
  monkeypatch.setattr(winograd, "MIN_CHANNELS", 4)
  calls = []
  monkeypatch.setattr(winograd, "conv3x3_same", lambda x, k: calls.append(x.shape) or x[..., :1])
  x = jnp.ones((1, 8, 8, 4))
  for conv in (nn.Conv(2, (3, 3), strides=2), nn.Conv(2, (1, 1)), nn.Conv(2, (3, 3), padding="VALID")):
    conv = conv.clone(conv_general_dilated=winograd.winograd_conv)
    conv.init(jax.random.PRNGKey(0), x)
  narrow = nn.Conv(2, (3, 3), conv_general_dilated=winograd.winograd_conv)
  narrow.init(jax.random.PRNGKey(0), x[..., :3])
  assert not calls
  nn.Conv(1, (3, 3), conv_general_dilated=winograd.winograd_conv).init(jax.random.PRNGKey(0), x)
  assert calls == [(1, 8, 8, 4)]


def test_generator_output_is_the_same_with_winograd(monkeypatch):
  monkeypatch.setattr(winograd, "MIN_CHANNELS", 16)  # the tiny test generator's block width
  cfg = dict(kind="residual", width=8, num_scales=1, num_blocks=2)
  native = generator_lib.make_generator(cfg)
  fast = generator_lib.make_generator({**cfg, "conv_impl": "winograd"})
  frames = jax.random.uniform(jax.random.PRNGKey(1), (1, 20, 28, 3))
  params = native.init(jax.random.PRNGKey(0), frames)
  # Non-zero residual branches, so the blocks' convs matter.
  params = jax.tree.map(lambda p: p + 0.05 * jnp.cos(jnp.arange(p.size).reshape(p.shape)), params)
  np.testing.assert_allclose(fast.apply(params, frames, clip=False),
                             native.apply(params, frames, clip=False), atol=2e-5)
  with pytest.raises(ValueError, match="conv_impl"):
    generator_lib.make_generator({**cfg, "conv_impl": "fft"})
