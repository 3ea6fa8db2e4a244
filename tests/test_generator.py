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


def _random_like(tree, seed: int, scale: float = 0.3):
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
      lambda x: jnp.asarray(scale * rng.standard_normal(x.shape), jnp.float32), tree)


def _assert_close_scaled(a, b, tol: float = 1e-5):
  """max |a - b| <= tol, relative to max |a| where that exceeds 1 (summed gradients)."""
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    x, y = np.asarray(x), np.asarray(y)
    assert np.abs(x - y).max() <= tol * max(1.0, np.abs(x).max()), np.abs(x - y).max()


def test_depthwise_params_are_those_of_grouped_nn_conv():
  """Same names, shapes and initial values as nn.Conv(C, (3, 3), feature_group_count=C)."""
  x = jnp.zeros((1, 9, 11, 6))
  ours = gen_lib.DepthwiseConv3x3().init(KEY, x)
  flax_conv = gen_lib.nn.Conv(6, (3, 3), feature_group_count=6).init(KEY, x)
  assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(flax_conv)
  for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(flax_conv)):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("hw", [(7, 13), (1, 5), (16, 9)])
def test_depthwise_impls_agree_values_and_gradients(hw):
  """Shift-and-add vs XLA's grouped conv: outputs and gradients (input and params) agree."""
  x = jnp.asarray(np.random.default_rng(1).standard_normal((2, *hw, 12)), jnp.float32)
  params = _random_like(gen_lib.DepthwiseConv3x3().init(KEY, x), seed=2)
  cotangent = jnp.asarray(np.random.default_rng(3).standard_normal(x.shape), jnp.float32)
  results = []
  for impl in gen_lib.DEPTHWISE_IMPLS:
    module = gen_lib.DepthwiseConv3x3(impl)
    loss = lambda p, x, m=module: jnp.sum(m.apply(p, x) * cotangent)
    results.append((module.apply(params, x), jax.grad(loss, argnums=(0, 1))(params, x)))
  (y_shift, g_shift), (y_conv, g_conv) = results
  _assert_close_scaled(y_shift, y_conv)
  _assert_close_scaled(g_shift, g_conv)


def test_fast_generator_depthwise_impls_agree_on_odd_frames():
  """Whole fast generator, trained-looking (non-zero) params, odd frame size, with gradients."""
  frames = jnp.asarray(_jpeg_frames(2, 37, 53))
  kw = dict(kind="fast", width=8, num_scales=2, num_blocks=2)
  shift = gen_lib.Generator(**kw, depthwise_impl="shift_add")
  grouped = gen_lib.Generator(**kw, depthwise_impl="grouped_conv")
  params = _random_like(jax.jit(shift.init)(KEY, frames), seed=4, scale=0.1)
  # No clip: compare the raw network, not saturated pixels.
  loss = lambda g: jax.jit(jax.value_and_grad(lambda p: jnp.sum(g.apply(p, frames, clip=False))))
  (v_shift, g_shift), (v_grouped, g_grouped) = loss(shift)(params), loss(grouped)(params)
  out_shift = shift.apply(params, frames, clip=False)
  assert float(jnp.abs(out_shift - frames).max()) > 0.05  # the correction is not negligible
  np.testing.assert_allclose(out_shift, grouped.apply(params, frames, clip=False), atol=1e-5)
  np.testing.assert_allclose(v_shift, v_grouped, rtol=1e-5)
  _assert_close_scaled(g_shift, g_grouped)


@pytest.mark.parametrize("hw", [(5, 7), (1, 1), (8, 6)])
def test_upsample_conv_equals_upsample_then_conv(hw):
  """The folded decoder conv equals nn.Conv on the upsampled input, values and gradients."""
  x = jnp.asarray(np.random.default_rng(5).standard_normal((2, *hw, 6)), jnp.float32)
  folded = gen_lib.UpsampleConv3x3(4)
  params = folded.init(KEY, x)
  reference = gen_lib.nn.Conv(4, (3, 3))
  # Same parameter tree and initial values as the nn.Conv it replaces (checkpoints load).
  ref_init = reference.init(KEY, gen_lib.upsample_nearest(x))
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(ref_init)):
    np.testing.assert_array_equal(a, b)
  params = _random_like(params, seed=6)
  ours = lambda p, x: folded.apply(p, x)
  theirs = lambda p, x: reference.apply(p, gen_lib.upsample_nearest(x))
  _assert_close_scaled(ours(params, x), theirs(params, x))
  cotangent = jnp.asarray(np.random.default_rng(7).standard_normal((2, 2 * hw[0], 2 * hw[1], 4)),
                          jnp.float32)
  grad = lambda f: jax.grad(lambda p, x: jnp.sum(f(p, x) * cotangent), argnums=(0, 1))(params, x)
  _assert_close_scaled(grad(ours), grad(theirs))


def test_make_generator_depthwise_impl():
  base = {"kind": "fast", "width": 8, "num_scales": 1, "num_blocks": 1, "temporal_window": 1}
  assert gen_lib.make_generator(ml_collections.ConfigDict(base)).depthwise_impl == "shift_add"
  g = gen_lib.make_generator(ml_collections.ConfigDict({**base, "depthwise_impl": "grouped_conv"}))
  assert g.depthwise_impl == "grouped_conv"
  with pytest.raises(ValueError, match="depthwise_impl must be one of"):
    gen_lib.make_generator(ml_collections.ConfigDict({**base, "depthwise_impl": "winograd"}))


def test_luma_correction_moves_lightness_only():
  """generator.correction=luma: whatever the weights, the correction is the same on R, G, B, so
  the BT.601 and BT.709 chroma of the output equal the input's (away from clipping)."""
  g = gen_lib.make_generator(ml_collections.ConfigDict(
      {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1, "correction": "luma"}))
  params = g.init(KEY, jnp.zeros((1, 16, 16, 3)))
  assert params["params"]["out"]["kernel"].shape[-1] == 1
  # Random (non-zero) weights everywhere, so the correction is large and content dependent.
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.key(1, impl="rbg"), len(leaves))
  params = jax.tree_util.tree_unflatten(
      tree, [0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
  x = 0.25 + 0.5 * _jpeg_frames(2, 32, 48)  # mid range: the sum stays inside [0, 1]
  y = np.asarray(g.apply(params, jnp.asarray(x), clip=False))
  delta = y - x
  assert np.abs(delta).max() > 0.01
  np.testing.assert_allclose(delta[..., 0], delta[..., 1], atol=1e-6)
  np.testing.assert_allclose(delta[..., 0], delta[..., 2], atol=1e-6)
  for kr, kb in ((0.299, 0.114), (0.2126, 0.0722)):
    def chroma(img):
      luma = kr * img[..., 0] + (1 - kr - kb) * img[..., 1] + kb * img[..., 2]
      return img[..., 2] - luma, img[..., 0] - luma
    for a, b in zip(chroma(y), chroma(x)):
      np.testing.assert_allclose(a, b, atol=1e-5)


def test_make_generator_rejects_unknown_correction():
  with pytest.raises(ValueError, match="generator.correction"):
    gen_lib.make_generator(ml_collections.ConfigDict({"correction": "yuv"}))


def test_highpass_correction_leaves_flat_areas_alone():
  """generator.highpass: the correction loses its local mean, so on a flat patch (where the
  network's correction is a constant away from the borders) the output equals the input, and
  a brightness drift cannot be added; the window is tile-compatible (translation-equivariant)."""
  g = gen_lib.make_generator(ml_collections.ConfigDict(
      {"kind": "residual", "width": 8, "num_scales": 0, "num_blocks": 1, "correction": "luma",
       "highpass": 9}))
  params = g.init(KEY, jnp.zeros((1, 16, 16, 3)))
  leaves, tree = jax.tree_util.tree_flatten(params)
  keys = jax.random.split(jax.random.key(2, impl="rbg"), len(leaves))
  params = jax.tree_util.tree_unflatten(
      tree, [0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
  flat = jnp.full((1, 64, 64, 3), jnp.asarray([60, 160, 60], jnp.float32) / 255.0)
  y = np.asarray(g.apply(params, flat, clip=False))
  no_highpass = g.clone(highpass=0).apply(params, flat, clip=False)
  inner = (slice(None), slice(12, -12), slice(12, -12))
  assert np.abs(np.asarray(no_highpass - flat)[inner]).max() > 1e-3  # the network does correct
  np.testing.assert_allclose(y[inner], np.asarray(flat)[inner], atol=1e-5)
  # Equivariance: a shifted input gives the shifted output, away from the borders.
  x = jnp.asarray(_jpeg_frames(1, 48, 64))
  a = np.asarray(g.apply(params, x, clip=False))
  b = np.asarray(g.apply(params, x[:, 8:], clip=False))
  np.testing.assert_allclose(a[:, 8 + 16:-16, 16:-16], b[:, 16:-16, 16:-16], atol=1e-5)
  with pytest.raises(ValueError, match="highpass"):
    gen_lib.make_generator(ml_collections.ConfigDict({"highpass": 4}))


def test_codec_conditioning_starts_as_the_plain_model_and_separates_codecs():
  """A zero FiLM table computes exactly what the unconditioned generator does; a row moves
  only the frames told that codec."""
  plain = gen_lib.make_generator({"kind": "residual", "width": 8, "num_scales": 1,
                                        "num_blocks": 2})
  conditioned = gen_lib.make_generator({"kind": "residual", "width": 8, "num_scales": 1,
                                              "num_blocks": 2, "conditioning": "codec"})
  x = jax.random.uniform(jax.random.PRNGKey(1), (2, 16, 16, 3))
  params = plain.init(jax.random.PRNGKey(0), x)
  # Non-zero output conv, so the trunk's features reach the output.
  params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
                        params)
  film = conditioned.init(jax.random.PRNGKey(0), x)["params"]["codec_film"]
  assert film["embedding"].shape == (len(gen_lib.CONDITION_CODECS), 2 * 2 * 16)  # blocks x (scale, shift) x trunk width
  assert not np.any(film["embedding"])
  both = {"params": {**params["params"], "codec_film": film}}
  av1 = gen_lib.codec_index("av1")
  codes = jnp.array([gen_lib.codec_index("h264"), av1])
  ref = plain.apply(params, x, clip=False)
  np.testing.assert_array_equal(conditioned.apply(both, x, clip=False, codec=codes), ref)
  np.testing.assert_array_equal(conditioned.apply(both, x, clip=False), ref)
  both["params"]["codec_film"] = {"embedding": film["embedding"].at[av1].set(0.3)}
  out = conditioned.apply(both, x, clip=False, codec=codes)
  np.testing.assert_array_equal(out[0], ref[0])
  assert float(jnp.abs(out[1] - ref[1]).max()) > 1e-3
  assert gen_lib.codec_index("mpeg2") == gen_lib.codec_index(None) == 0
  with pytest.raises(ValueError, match="conditioning"):
    gen_lib.make_generator({"conditioning": "qp"})


def _qp_pair(kind="residual"):
  """A codec-only generator with perturbed parameters and its codec_qp twin's parameters."""
  cfg = {"kind": kind, "width": 8, "num_scales": 1, "num_blocks": 2}
  codec = gen_lib.make_generator({**cfg, "conditioning": "codec"})
  qp = gen_lib.make_generator({**cfg, "conditioning": "codec_qp"})
  x = jnp.asarray(_jpeg_frames(2, 24, 32))
  params = codec.init(KEY, x)
  params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
                        params)
  stem = qp.init(KEY, x)["params"]["qp_stem"]
  return codec, qp, x, params, {"params": {**params["params"], "qp_stem": stem}}


def _qp_maps():
  """Two H.264-like QP maps per 8x8 block (24x32 frames), one with an unknown region."""
  rng = np.random.default_rng(0)
  blocks = rng.integers(24, 45, (2, 3, 4)).astype(np.uint8)
  maps = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)
  maps[1, :, :8] = gen_lib.QP_UNKNOWN
  return jnp.asarray(maps)


@pytest.mark.parametrize("kind", ["residual", "fast"])
def test_qp_input_starts_as_the_codec_only_model(kind):
  """The QP channels' kernel starts at zero: with any map the start is the codec-only model."""
  codec, qp, x, params, both = _qp_pair(kind)
  from jaxenhance import quantiser

  assert gen_lib.QP_UNKNOWN == quantiser.UNKNOWN  # what the records and decoders write
  assert both["params"]["qp_stem"]["kernel"].shape == (3, 3, 2, 8)
  assert not np.any(both["params"]["qp_stem"]["kernel"])
  codes = jnp.array([gen_lib.codec_index("h264"), gen_lib.codec_index("jpeg")])
  ref = codec.apply(params, x, clip=False, codec=codes)
  np.testing.assert_array_equal(qp.apply(both, x, clip=False, codec=codes, qp_map=_qp_maps()),
                                ref)
  np.testing.assert_array_equal(qp.apply(both, x, clip=False, codec=codes), ref)


def test_qp_input_weights_learn_from_known_qp_only():
  """The QP kernel gets gradient where the map is known; an unknown map gives it none, and a
  trained kernel changes the output only where the map says something."""
  _, qp, x, _, both = _qp_pair()
  target = x[:, ::-1]

  def loss(params, qp_map):
    return jnp.mean((qp.apply(params, x, clip=False, qp_map=qp_map) - target) ** 2)

  grad = jax.grad(loss)(both, _qp_maps())["params"]["qp_stem"]["kernel"]
  assert float(jnp.abs(grad).max()) > 1e-6
  assert np.all(np.abs(np.asarray(grad)).sum(axis=(0, 1, 3)) > 0)  # both channels
  unknown = jnp.full((2, 24, 32), gen_lib.QP_UNKNOWN, jnp.uint8)
  for qp_map in (None, unknown):
    none = jax.grad(loss)(both, qp_map)["params"]["qp_stem"]["kernel"]
    assert not np.any(none)
  trained = jax.tree.map(lambda p: p, both)
  trained["params"]["qp_stem"] = {"kernel": grad * 100.0}
  plain = qp.apply(trained, x, clip=False)
  np.testing.assert_array_equal(qp.apply(trained, x, clip=False, qp_map=unknown), plain)
  told = qp.apply(trained, x, clip=False, qp_map=_qp_maps())
  assert float(jnp.abs(told - plain).max()) > 1e-3
