"""Critics: layer specs, parameter counts, frozen VGG, per-sample independence, sub-patch logits."""

import importlib.util
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from train_helpers import synthetic_report

from jaxenhance import assets
from jaxenhance.models import critic as critic_lib
from jaxenhance.models import vgg

_spec = importlib.util.spec_from_file_location(
    "default_config", Path(__file__).parents[1] / "configs" / "default.py")
default_config = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(default_config)

# Threefry keys compile slowly on this CPU; the "rbg" generator keeps init cheap.
KEY = jax.random.key(0, impl="rbg")


def _photos(n: int = 2, size: int = 32) -> jax.Array:
  """Real crops of the astronaut photo, float in [0, 1]."""
  photo = assets.sample_photo("astronaut")
  crops = [photo[60 + 50 * i:60 + 50 * i + size, 200:200 + size] for i in range(n)]
  return jnp.asarray(np.stack(crops), jnp.float32) / 255.0


def _tap_shapes(layers, n=2, size=32):
  """Shape structs of the VGG taps (parameter counting needs no VGG compute)."""
  return {k: jax.ShapeDtypeStruct((n, size // vgg.STRIDES[k], size // vgg.STRIDES[k],
                                   vgg.CHANNELS[k]), jnp.float32) for k in layers}


def _count_params(critic, size=32) -> int:
  images = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
  shapes = jax.eval_shape(critic.init, KEY, images, _tap_shapes(critic.layers, size=size))
  return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes)))


# --------------------------------------------------------------------------- layer specs


def test_resolve_layer_presets_and_lists(tmp_path):
  assert critic_lib.resolve_layers("none") == ()
  assert critic_lib.resolve_layers("all") == vgg.RELU_LAYERS and len(vgg.RELU_LAYERS) == 13
  assert critic_lib.resolve_layers("lpips") == (
      "relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
  # Lists and command-line strings are ordered by depth.
  assert critic_lib.resolve_layers(["relu3_3", "relu1_2"]) == ("relu1_2", "relu3_3")
  assert critic_lib.resolve_layers("relu3_3, relu1_2") == ("relu1_2", "relu3_3")
  report = tmp_path / "report.json"
  # The report format of jaxenhance.perception.selection: "layers" holds every scored layer.
  scored = {"relu1_1": {}, "relu2_1": {}, "relu3_1": {}}
  report.write_text(json.dumps({"selected_layers": ["relu2_1", "relu1_1"], "layers": scored}))
  assert critic_lib.resolve_layers("selected", report) == ("relu1_1", "relu2_1")


def test_unknown_layer_name_lists_the_valid_ones(tmp_path):
  with pytest.raises(ValueError, match="relu9_9") as err:
    critic_lib.resolve_layers(["relu1_2", "relu9_9"])
  assert "relu5_3" in str(err.value) and "conv1_1" in str(err.value)
  with pytest.raises(ValueError, match="more than once"):
    critic_lib.resolve_layers("relu1_2,relu1_2")
  with pytest.raises(FileNotFoundError, match="select_layers"):
    critic_lib.resolve_layers("selected", tmp_path / "missing.json")
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"selected_layers": ["relu1_2", "fc7"]}))
  with pytest.raises(ValueError, match="fc7"):
    critic_lib.resolve_layers("selected", bad)
  bad.write_text(json.dumps({"layers": {"relu1_1": {}}}))
  with pytest.raises(ValueError, match="select_layers"):
    critic_lib.resolve_layers("selected", bad)


# --------------------------------------------------------------------------- parameter counts


def test_exact_parameter_count_small_config():
  """Hand count: taps relu1_2 (64 ch) + relu2_2 (128 ch), proj 4, width 8, 2 downsamples."""
  conv = lambda k, cin, cout: k * k * cin * cout + cout
  want = (conv(1, 64, 4) + conv(1, 128, 4)  # per-tap 1x1 projections
          + conv(3, 3, 8)  # RGB stem at relu1_2's resolution (factor 1)
          + conv(3, 4 + 4 + 8, 8) + 2 * 8  # stride-2 conv on the concatenation + LayerNorm
          + conv(3, 8, 16) + 2 * 16  # stride-2 conv + LayerNorm
          + 16 + 1)  # dense head
  c = critic_lib.Critic(layers=("relu1_2", "relu2_2"), width=8, proj_channels=4,
                        num_downsamples=2)
  assert _count_params(c) == want == 3393
  # A deeper shallowest tap (relu3_3, stride 4): the RGB stem reads a 4x4 space-to-depth image.
  c = critic_lib.Critic(layers=("relu3_3",), width=8, proj_channels=4, num_downsamples=2)
  assert _count_params(c) == (conv(1, 256, 4) + conv(3, 48, 8) + conv(3, 12, 8) + 16
                              + conv(3, 8, 16) + 32 + 17)


def test_variant_parameter_counts_are_ordered():
  counts = {spec: _count_params(critic_lib.Critic(
      layers=critic_lib.resolve_layers(spec), width=8, proj_channels=4, num_downsamples=2))
      for spec in ("none", "lpips", "all")}
  assert counts["none"] < counts["lpips"] < counts["all"]
  assert counts == {"none": 2041, "lpips": 9389, "all": 22733}
  # Without the RGB stem and with norm="none" the head shrinks accordingly.
  lean = critic_lib.Critic(layers=("relu1_2",), width=8, proj_channels=4, num_downsamples=2,
                           rgb_stem=False, norm="none")
  assert _count_params(lean) == (64 * 4 + 4) + (9 * 4 * 8 + 8) + (9 * 8 * 16 + 16) + 17


def test_default_config_critics_build(tmp_path):
  config = default_config.get_config()
  report = tmp_path / "report.json"
  report.write_text(json.dumps({"selected_layers": ["relu1_2", "relu2_2", "relu3_3"]}))
  counts = {}
  for spec in ("none", "lpips", "all", "selected"):
    config.critic.layers = spec
    counts[spec] = _count_params(critic_lib.make_critic(config.critic, report), size=64)
  assert counts["none"] < counts["selected"] < counts["lpips"] < counts["all"]
  config.critic.kind = "subpatch"
  disc = critic_lib.make_critic(config.critic)
  assert isinstance(disc, critic_lib.SubpatchDiscriminator) and disc.subpatch == 16
  config.critic.kind, config.critic.layers = "wgan", "none"
  config.critic.rgb_stem = False
  with pytest.raises(ValueError, match="rgb_stem"):
    critic_lib.make_critic(config.critic)


# --------------------------------------------------------------------------- with real VGG


@pytest.fixture(scope="module")
def lpips_critic(vgg_params):
  c = critic_lib.Critic(layers=critic_lib.resolve_layers("relu1_2,relu2_2"), width=8,
                        proj_channels=4, num_downsamples=2)
  images = _photos()
  taps = critic_lib.critic_features(vgg_params, images, c.layers)
  return c, jax.jit(c.init)(KEY, images, taps)


def test_frozen_vgg_is_not_trainable(lpips_critic, vgg_params):
  c, params = lpips_critic
  names = jax.tree_util.keystr(params)
  assert "Conv_0" not in names and "VGG" not in names
  assert _count_params(c) == 3393  # the head only: VGG-16's 14.7M weights are not in it
  images = _photos()
  grad_params, grad_vgg, grad_images = jax.jit(jax.grad(
      lambda p, v, x: jnp.sum(critic_lib.critic_scores(c, p, v, x)), argnums=(0, 1, 2)))(
          params, vgg_params, images)
  assert jax.tree_util.tree_structure(grad_params) == jax.tree_util.tree_structure(params)
  # VGG weights are frozen (stop_gradient); the images still get gradients through VGG.
  assert all(not np.any(g) for g in jax.tree_util.tree_leaves(grad_vgg))
  assert np.abs(grad_images).max() > 0


def test_scores_are_per_sample(lpips_critic, vgg_params):
  """One pass over real ++ fake equals separate passes (no cross-sample normalisation)."""
  c, params = lpips_critic
  real = _photos()
  fake = jnp.clip(real + 0.1 * jax.random.normal(KEY, real.shape), 0, 1)
  features = jax.jit(critic_lib.critic_features, static_argnums=2)
  apply = jax.jit(c.apply)
  taps = features(vgg_params, jnp.concatenate([real, fake]), c.layers)
  both = apply(params, jnp.concatenate([real, fake]), taps)
  assert both.shape == (4,)
  taps_real, taps_fake = critic_lib.split_taps(taps, 2)
  # The same (jitted) functions on batches of 2: real alone, fake alone.
  for part, images, part_taps in ((both[:2], real, taps_real), (both[2:], fake, taps_fake)):
    np.testing.assert_allclose(apply(params, images, part_taps), part, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(apply(params, images, features(vgg_params, images, c.layers)),
                               part, rtol=1e-5, atol=1e-6)


def test_channel_masks(lpips_critic, vgg_params):
  c, params = lpips_critic
  images = _photos()
  taps = critic_lib.critic_features(vgg_params, images, c.layers)
  mask = np.zeros(128, bool)
  mask[:16] = True
  masked = c.apply(params, images, taps, {"relu2_2": mask})
  manual = dict(taps, relu2_2=taps["relu2_2"] * mask)
  np.testing.assert_allclose(masked, c.apply(params, images, manual), rtol=1e-6)
  assert not np.allclose(masked, c.apply(params, images, taps))
  with pytest.raises(ValueError, match="does not read"):
    c.apply(params, images, taps, {"relu3_3": np.ones(256, bool)})
  with pytest.raises(ValueError, match="critic_features"):
    c.apply(params, images, {"relu1_2": taps["relu1_2"]})


def test_channel_selection_gathers_half_the_channels(tmp_path, vgg_params):
  from jaxenhance.perception import selection

  report = synthetic_report(tmp_path / "report.json", ("relu1_2", "relu2_2"))
  config = default_config.get_config().critic
  config.update(layers="selected", width=8, proj_channels=4, num_downsamples=2)
  kept = selection.kept_channels(report, ("relu1_2", "relu2_2"), 0.5)
  c = critic_lib.make_critic(config, report, kept)
  assert c.num_channels("relu1_2") == 32 and c.num_channels("relu2_2") == 64
  images = _photos()
  full = critic_lib.critic_features(vgg_params, images, c.layers)
  taps = critic_lib.critic_features(vgg_params, images, c.layers, c.channel_map)
  for name, index in kept.items():
    assert taps[name].shape[-1] == len(index) == vgg.CHANNELS[name] // 2
    np.testing.assert_array_equal(taps[name], full[name][..., np.asarray(index)])
  params = jax.jit(c.init)(KEY, images, taps)
  assert params["params"]["proj_relu1_2"]["kernel"].shape == (1, 1, 32, 4)
  scores = c.apply(params, images, taps)
  assert np.all(np.isfinite(scores))
  np.testing.assert_allclose(critic_lib.critic_scores(c, params, vgg_params, images), scores,
                             rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match="channel selection"):
    c.apply(params, images, full)  # full taps for a critic that reads half
  # Every channel listed == no selection.
  every = {n: tuple(range(vgg.CHANNELS[n])) for n in c.layers}
  same = critic_lib.critic_features(vgg_params, images, c.layers, every)
  for name in c.layers:
    np.testing.assert_array_equal(same[name], full[name])
  with pytest.raises(ValueError, match="does not read"):
    critic_lib.make_critic(config, report, {"relu3_3": (0,)})
  with pytest.raises(ValueError, match=r"in \[0, 64\)"):
    critic_lib.make_critic(config, report, {"relu1_2": (3, 64)})


def test_every_variant_scores_real_images(vgg_params):
  """The no-VGG baseline and all 13 ReLU taps (down to relu5_3 at 2x2): finite scores."""
  images = _photos(2, 32)
  for spec in ("none", "all"):
    c = critic_lib.Critic(layers=critic_lib.resolve_layers(spec), width=8,
                          proj_channels=4, num_downsamples=2)

    @jax.jit
    def score(x, c=c):
      taps = critic_lib.critic_features(vgg_params, x, c.layers)
      return c.apply(c.init(KEY, x, taps), x, taps)

    s = score(images)
    assert s.shape == (2,) and np.all(np.isfinite(s)), spec


# --------------------------------------------------------------------------- sub-patch (Galteri)


def test_subpatch_discriminator_one_logit_per_subpatch():
  images = _photos(2, 48)[:, :32]  # 32 x 48
  compressed = jnp.round(images * 8) / 8  # coarse quantisation as the condition
  d = critic_lib.SubpatchDiscriminator(subpatch=16, width=8, num_downsamples=2)
  params = jax.jit(d.init)(KEY, images, compressed)
  apply = jax.jit(d.apply)
  logits = apply(params, images, compressed)
  assert logits.shape == (2, 2, 3)
  # Sub-patches are scored independently: editing one changes only its logit.
  edited = images.at[0, 16:32, 32:48].set(1.0 - images[0, 16:32, 32:48])
  changed = np.abs(np.asarray(apply(params, edited, compressed) - logits)) > 1e-6
  assert changed[0, 1, 2] and changed.sum() == 1
  # The condition is read too.
  assert not np.allclose(apply(params, images, images), logits)
  with pytest.raises(ValueError, match="multiple of 16"):
    d.apply(params, images[:, :, :40], compressed[:, :, :40])
  with pytest.raises(ValueError, match="same shape"):
    d.apply(params, images, compressed[:1])


def test_make_critic_from_dict_like_config():
  c = critic_lib.make_critic(ml_collections.ConfigDict({
      "kind": "wgan", "layers": "lpips", "width": 8, "proj_channels": 4, "rgb_stem": True, "num_downsamples": 2,
      "norm": "layer"}))
  assert c.layers == vgg.LPIPS_LAYERS and c.resolution_factor == 1
  with pytest.raises(ValueError, match="norm must be one of"):
    critic_lib.make_critic(ml_collections.ConfigDict({"kind": "wgan", "layers": "none",
                                                          "norm": "batch"}))
