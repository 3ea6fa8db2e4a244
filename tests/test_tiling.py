"""Tiles: stride-aligned plans, an exact partition of unity, and no seams in the output."""

import jax
import numpy as np
import pytest

from jaxenhance import assets, inference, tiling, video_io
from jaxenhance.models import generator as generator_lib


@pytest.mark.parametrize("height,width,max_tile,overlap,stride", [
    (720, 1280, 512, 64, 4), (360, 640, 512, 64, 4), (144, 176, 64, 16, 4),
    (48, 64, 32, 8, 4), (100, 100, 40, 16, 1), (64, 64, 512, 64, 8), (96, 200, 80, 24, 8)])
def test_plan_is_aligned_overlapping_and_sums_to_one(height, width, max_tile, overlap, stride):
  plan = tiling.plan_tiles(height, width, max_tile, overlap, stride)
  for origins, tile, length in ((plan.ys, plan.tile_height, height),
                                (plan.xs, plan.tile_width, width)):
    assert origins[0] == 0 and origins[-1] + tile == length  # covers the axis, stays inside
    assert all(o % stride == 0 for o in origins)
    assert tile % stride == 0 and tile <= max(max_tile + stride, length)
    if len(origins) > 1:
      assert tile - max(np.diff(origins)) >= overlap
  weights = plan.weights()
  assert weights.shape == (plan.num_tiles, plan.tile_height, plan.tile_width, 1)
  total = np.zeros((height, width))
  for (y, x), w in zip(plan.origins, weights[..., 0]):
    total[y:y + plan.tile_height, x:x + plan.tile_width] += w
  np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("window,tiles_per_call", [(1, 1), (1, 4), (3, 2)])
def test_map_tiles_of_the_identity_returns_the_frames(window, tiles_per_call):
  """Every pixel is blended from the tiles over it with weights summing to one; a temporal
  window hands output frame b the frames b .. b + window - 1 (checked via the centre one)."""
  plan = tiling.plan_tiles(48, 80, 32, 12, 4)
  frames = np.random.default_rng(0).integers(0, 256, (2 + window - 1, 48, 80, 5), np.uint8)
  centre = window // 2
  out = jax.jit(lambda f, w: tiling.map_tiles(lambda t: t[:, centre], f, plan, w, window,
                                              tiles_per_call))(frames, plan.weights())
  assert out.shape == (2, 48, 80, 5) and out.dtype == np.float32
  np.testing.assert_allclose(out, frames[centre:centre + 2], atol=1e-4)


def test_plan_rejects_bad_settings():
  with pytest.raises(ValueError, match="multiple"):
    tiling.plan_tiles(50, 64, 32, 8, 4)
  with pytest.raises(ValueError, match="exceed"):
    tiling.plan_tiles(48, 64, 16, 16, 4)


def _perturbed_generator(scale: float):
  """A tiny generator with random weights (numpy: no PRNG compile) that changes its input."""
  generator = generator_lib.make_generator(
      {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1})
  shapes = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                          np.zeros((1, 16, 16, 3), np.float32))
  rng = np.random.default_rng(0)
  return generator, jax.tree.map(
      lambda s: (scale * rng.standard_normal(s.shape)).astype(np.float32), shapes)


def test_tiled_output_has_no_seams():
  """Overlapped, aligned, blended tiles reproduce the whole-frame output; naive tiles do not."""
  frames, _ = video_io.read_frames(assets.sample_clip_path("bikes"), max_frames=2)
  frames = frames[:, 40:136, 100:228]  # 96x128 of real footage
  generator, params = _perturbed_generator(0.05)
  whole = inference.enhance_array(frames, generator, params, tile=1024).astype(int)
  assert np.abs(whole - frames).mean() > 2.0  # the network really changes the frames

  tiled = inference.Enhancer(generator, params, tile=48, overlap=24)
  assert tiled.plan(96, 128).num_tiles >= 6
  diff = np.abs(inference.enhance_array(frames, generator, params, enhancer=tiled) - whole)
  assert diff.max() <= 1  # uint8 rounding only

  naive = inference.Enhancer(generator, params, tile=32, overlap=0)  # abutting tiles
  diff = np.abs(inference.enhance_array(frames, generator, params, enhancer=naive) - whole)
  assert diff.max() >= 3  # the seams the blending removes


def test_tiles_carry_the_qp_map_of_their_own_pixels():
  """A QP-conditioned generator enhanced tile by tile, each tile with its piece of the decoder's
  QP map, gives the whole-frame output with the whole map."""
  frames, _ = video_io.read_frames(assets.sample_clip_path("bikes"), max_frames=3)
  frames = frames[:, 40:136, 100:228]
  generator = generator_lib.make_generator(
      {"kind": "residual", "width": 8, "num_scales": 1, "num_blocks": 1,
       "conditioning": "codec_qp"})
  shapes = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                          np.zeros((1, 16, 16, 3), np.float32))
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: (0.05 * rng.standard_normal(s.shape)).astype(np.float32),
                        shapes)
  params["params"]["qp_stem"]["kernel"] *= 10  # the map moves the output by several levels
  blocks = rng.integers(20, 46, (3, 6, 8)).astype(np.uint8)  # one QP per 16x16 macroblock
  qp_maps = np.repeat(np.repeat(blocks, 16, axis=1), 16, axis=2)
  qp_maps[1, :32] = 255  # unknown at the top of one frame
  codec = np.array([generator_lib.codec_index("h264")] * 3)
  whole = generator.apply(params, frames.astype(np.float32) / 255.0, codec=codec, qp_map=qp_maps)
  whole = np.round(np.clip(np.asarray(whole), 0, 1) * 255).astype(int)
  blind = inference.enhance_array(frames, generator, params, codec="h264", tile=1024)
  assert np.abs(blind - whole).max() >= 3  # the map matters

  tiled = inference.Enhancer(generator, params, tile=48, overlap=24, batch_size=2, codec="h264")
  assert tiled.plan(96, 128).num_tiles >= 6
  got = inference.enhance_array(frames, generator, params, qp_maps=qp_maps, enhancer=tiled)
  assert np.abs(got - whole).max() <= 1  # uint8 rounding only
