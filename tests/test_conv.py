"""The "patches" convolution (strided convs as slices + dot) equals XLA's, with its derivatives."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxenhance.models import conv, critic as critic_lib


@pytest.mark.parametrize("size,cin,cout,kernel,stride,padding", [
    (16, 3, 8, 3, 2, "SAME"),      # even size: XLA puts the odd padding pixel at the end
    (15, 4, 5, 3, 2, "SAME"),      # odd size
    (13, 4, 6, 3, 2, "VALID"),
    (12, 3, 4, 3, (2, 1), ((1, 0), (2, 1))),  # explicit, asymmetric padding and strides
    (12, 4, 4, 3, 1, "SAME"),      # stride 1: the native kernel
    (8, 5, 3, 1, 1, "SAME"),       # 1x1: one dot
    (9, 3, 4, 1, 2, "SAME"),       # 1x1 strided: a phase with no taps
    (14, 3, 4, 4, 2, "SAME"),      # even kernel
    (17, 2, 3, 2, 3, "VALID"),     # kernel smaller than the stride
    (11, 3, 4, 3, 2, ((3, 2), (0, 4))),  # more padding than the taps read: cropped
])
def test_same_values_and_derivatives_as_xla(size, cin, cout, kernel, stride, padding):
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (2, size, size + 1, cin))
  native = nn.Conv(cout, (kernel, kernel), strides=stride, padding=padding)
  patches = nn.Conv(cout, (kernel, kernel), strides=stride, padding=padding,
                    conv_general_dilated=conv.patches_conv)
  params = native.init(key, x)
  np.testing.assert_allclose(patches.apply(params, x), native.apply(params, x), atol=1e-5)

  # First order (the input's gradient goes through the custom transpose of the patches).
  loss = lambda module, p, z: jnp.sum(jnp.sin(module.apply(p, z)))
  np.testing.assert_allclose(jax.grad(loss, argnums=2)(patches, params, x),
                             jax.grad(loss, argnums=2)(native, params, x), rtol=1e-4, atol=1e-5)

  # The gradient-penalty pattern: a loss on the input gradient, differentiated w.r.t. the weights.
  def penalty(module, p):
    g = jax.grad(lambda z: jnp.sum(jnp.tanh(module.apply(p, z))))(x)
    return jnp.sum(g ** 2)

  want = jax.grad(lambda p: penalty(native, p))(params)
  got = jax.grad(lambda p: penalty(patches, p))(params)
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_unknown_impl_is_refused():
  with pytest.raises(ValueError, match="xla"):
    conv.conv_fn("winograd")
  with pytest.raises(ValueError, match="conv_impl"):
    critic_lib.make_critic({"kind": "wgan", "layers": "none", "conv_impl": "winograd"})


def test_critic_impls_share_parameters_and_scores(vgg_params):
  images = jax.random.uniform(jax.random.PRNGKey(1), (2, 32, 32, 3))
  kw = dict(layers=("relu1_2", "relu2_2"), width=8, proj_channels=4, num_downsamples=2)
  native = critic_lib.Critic(conv_impl="xla", **kw)
  patches = critic_lib.Critic(conv_impl="patches", **kw)
  taps = critic_lib.critic_features(vgg_params, images, native.layers)
  params = native.init(jax.random.PRNGKey(0), images, taps)
  assert jax.tree.structure(params) == jax.tree.structure(
      patches.init(jax.random.PRNGKey(0), images, taps))
  np.testing.assert_allclose(patches.apply(params, images, taps),
                             native.apply(params, images, taps), rtol=1e-5, atol=1e-6)
