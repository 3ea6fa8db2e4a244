"""Generators: shapes for every variant and odd sizes, identity at init, parameter counts, errors."""

import io

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxenhance import assets
from jaxenhance.models import generator as gen_lib

# Threefry keys take seconds per shape to compile on this CPU (jax 0.10.2, partitionable
# threefry); the cheap "rbg" generator keeps initialisation fast. Values do not matter here.
KEY = jax.random.key(0, impl="rbg")


def _jpeg_frames(n: int, h: int, w: int, quality: int = 10) -> np.ndarray:
  """n real crops of the astronaut photo, JPEG-compressed with Pillow, float in [0, 1]."""
  photo = assets.sample_photo("astronaut")
  out = []
  for i in range(n):
    crop = photo[100 + 40 * i:100 + 40 * i + h, 150:150 + w]
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="JPEG", quality=quality)
    out.append(np.asarray(Image.open(buf).convert("RGB")))
  return np.stack(out).astype(np.float32) / 255.0


def _count(variables) -> int:
  return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(variables)))


@pytest.fixture(scope="module", params=["residual", "fast"])
def small_generator(request):
  g = gen_lib.Generator(kind=request.param, width=8, num_scales=2, num_blocks=2)
  return g, jax.jit(g.init)(KEY, jnp.zeros((1, 16, 16, 3)))


def test_shapes_and_identity_at_init(small_generator):
  """Any frame size (padding cropped back); at init the output equals the input exactly."""
  g, variables = small_generator
  apply = jax.jit(g.apply)
  for hw in [(32, 32), (37, 53), (2, 3)]:
    frames = jnp.asarray(_jpeg_frames(2, *hw))
    out = apply(variables, frames)
    assert out.shape == frames.shape and out.dtype == jnp.float32
    # Zero-initialised output conv + global residual: the initial network is the identity.
    np.testing.assert_array_equal(np.asarray(out), np.asarray(frames))


def test_temporal_window_predicts_centre_frame():
  """T frames stacked on channels (the stacking is shared by both kinds; 'fast' checked here)."""
  frames = jnp.asarray(_jpeg_frames(6, 37, 53).reshape(2, 3, 37, 53, 3))
  g = gen_lib.Generator(kind="fast", width=8, num_scales=2, num_blocks=1, temporal_window=3)
  variables = jax.jit(g.init)(KEY, frames)
  # The stem sees the 3 stacked frames: 9 input channels.
  assert variables["params"]["stem"]["kernel"].shape == (3, 3, 9, 8)
  apply = jax.jit(g.apply)
  out = apply(variables, frames)
  assert out.shape == (2, 37, 53, 3)
  np.testing.assert_array_equal(np.asarray(out), np.asarray(frames[:, 1]))
  # Once the zero-initialised convs have moved, the neighbouring frames influence the output.
  leaves, tree = jax.tree_util.tree_flatten(variables)
  rng = np.random.default_rng(0)
  noisy = jax.tree_util.tree_unflatten(
      tree, [x + 0.05 * rng.standard_normal(x.shape, np.float32) for x in leaves])
  changed = frames.at[:, 0].set(1.0 - frames[:, 0])
  assert not np.allclose(apply(noisy, frames), apply(noisy, changed))


def test_record_layout_with_singleton_time_axis(small_generator):
  """Patch records store lq as [T=1, P, P, 3]: [N, 1, H, W, 3] is accepted for T=1."""
  frames = jnp.asarray(_jpeg_frames(2, 16, 16))
  g, variables = small_generator
  apply = jax.jit(g.apply)
  np.testing.assert_array_equal(apply(variables, frames[:, None]), apply(variables, frames))


def test_output_clipped_with_straight_through_gradient():
  x = jnp.array([-0.5, 0.2, 1.5])
  np.testing.assert_allclose(gen_lib.clip_straight_through(x), [0.0, 0.2, 1.0])
  np.testing.assert_allclose(jax.grad(lambda v: gen_lib.clip_straight_through(v).sum())(x), 1.0)


def test_exact_parameter_count_small_config():
  """Hand count for kind=residual, width=4, num_scales=1, num_blocks=1 (channels 4 -> 8)."""
  conv = lambda k, cin, cout: k * k * cin * cout + cout
  want = (conv(3, 3, 4)  # stem
          + conv(3, 4, 8)  # stride-2 down
          + 2 * conv(3, 8, 8)  # one residual block
          + conv(3, 8, 4) + conv(3, 4, 4)  # NN upsample + 2 convs
          + conv(3, 4, 3))  # correction
  g = gen_lib.Generator(width=4, num_scales=1, num_blocks=1)
  shapes = jax.eval_shape(g.init, KEY, jnp.zeros((1, 8, 8, 3)))
  assert _count(shapes) == want == 2127


def test_fast_variant_is_much_smaller_than_residual():
  cfg = ml_collections.ConfigDict({"kind": "residual", "width": 64, "num_scales": 2, "num_blocks": 8,
                                       "temporal_window": 1})
  x = jnp.zeros((1, 32, 32, 3))
  residual = _count(jax.eval_shape(gen_lib.make_generator(cfg).init, KEY, x))
  cfg.kind, cfg.width = "fast", 32
  fast = _count(jax.eval_shape(gen_lib.make_generator(cfg).init, KEY, x))
  assert residual == 10_367_171  # the default config's generator
  assert fast == 1_207_203
  assert fast * 8 < residual


def test_make_generator_rejects_bad_config():
  base = {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1, "temporal_window": 1}
  with pytest.raises(ValueError, match="kind must be one of"):
    gen_lib.make_generator(ml_collections.ConfigDict({**base, "kind": "unet"}))
  with pytest.raises(ValueError, match="must be odd"):
    gen_lib.make_generator(ml_collections.ConfigDict({**base, "temporal_window": 2}))


def test_bad_input_gets_clear_error():
  g = gen_lib.Generator(width=4, num_scales=1, num_blocks=1, temporal_window=3)
  with pytest.raises(ValueError, match=r"\[N, 3, H, W, 3\]"):
    g.init(KEY, jnp.zeros((1, 16, 16, 3)))
  g1 = gen_lib.Generator(width=4, num_scales=1, num_blocks=1)
  with pytest.raises(TypeError, match="x / 255"):
    g1.init(KEY, jnp.zeros((1, 16, 16, 3), jnp.uint8))
