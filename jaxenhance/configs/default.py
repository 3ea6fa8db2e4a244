r"""Default jaxenhance configuration: every section and its defaults.

Command (full pipeline on a GPU/TPU host; see configs/quickstart.py for the CPU run):
  python -m jaxenhance.train --config=configs/default.py --workdir=/tmp/jaxenhance
Hardware: one host with 1-8 accelerators. Expected time: hours; this file mainly documents
the defaults that the other configs override.

Values marked "project choice" are not given by the source papers (only their abstracts are
available); they are jaxenhance's own defaults and stay configurable.
"""

import ml_collections


def default_ladder():
  """The project's full codec ladder: (codec, rate-control parameter, values)."""
  return [
      dict(codec="h264", param="qp", values=[27, 32, 37, 42]),
      dict(codec="hevc", param="qp", values=[27, 32, 37, 42]),
      dict(codec="av1", param="crf", values=[35, 45, 55]),
      dict(codec="vp9", param="crf", values=[40, 50]),
      dict(codec="jpeg", param="qf", values=[5, 10, 20, 30, 40, 60]),
  ]


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.workdir = ""  # set by --workdir

  # Stages of the main job (python -m jaxenhance.run); see jaxenhance/run.py.
  c.run = ml_collections.ConfigDict()
  c.run.stages = ("assets", "features", "prepare", "select", "train", "evaluate", "suite",
                  "enhance")

  # ---------------------------------------------------------------- data (records + Grain)
  c.data = ml_collections.ConfigDict()
  c.data.dataset_name = "jaxenhance_patches"
  c.data.data_dir = ""  # default: <workdir>/records
  c.data.train_sources = ("sample:bikes", "photos:sample")
  # carphone (176x144, H.264) is downscaled 2x to 72x88: too small for 128 patches.
  c.data.test_sources = ("sample:bigbuckbunny",)
  c.data.max_height = 240  # area-downscale sources so their own compression vanishes
  c.data.max_frames = 48  # frames taken per source clip
  c.data.fps = 25.0  # used for photo (pan/zoom) clips
  c.data.ladder = default_ladder()
  c.data.gop = 12
  c.data.preset = "medium"
  c.data.patch_size = 128  # stored patch size
  c.data.patch_stride = 96
  c.data.patch_jitter = 16
  c.data.patch_seed = -1  # seeds the patch jitter of the records build; -1: use c.seed
  c.data.skip_flat_std = 2.0  # skip patches whose gt std (0-255) is below this; 0 keeps all
  c.data.skip_unreadable = False  # True: skip (with a warning) unreadable files of dir: sources
  c.data.frame_step = 4  # take patches from every frame_step-th frame
  c.data.temporal_window = 1  # T = 1, 3 or 5 frames centred on the target
  c.data.temporal_edge = "replicate"  # at clip ends: "replicate" end frames or "skip" targets
  c.data.num_workers = 2  # local parallel generation
  c.data.crop_size = 96  # training crop
  c.data.batch_size = 16  # global batch
  c.data.shuffle_seed = 0
  c.data.grain_workers = 0  # 0: in-process (fastest on 2 cores)
  c.data.grain_threads = 1  # Grain background reader threads (input overlaps the step)
  c.data.hflip = True  # random horizontal flips of training crops
  c.data.vflip = False
  c.data.prefetch = 2
  c.data.codec_weights = ml_collections.ConfigDict()  # e.g. {"jpeg": 0.5, "h264": 0.5}
  # True: each record also holds the decoder's QP map of its patch (H.264 macroblock QPs; records
  # are built anew, under their own hash). Needed by generator.conditioning="codec_qp".
  c.data.quantiser = False

  # ---------------------------------------------------------------- generator
  c.generator = ml_collections.ConfigDict()
  c.generator.kind = "residual"  # "residual" (Galteri-style) or "fast"
  c.generator.width = 64
  c.generator.num_scales = 2  # strided downsamplings
  c.generator.num_blocks = 8
  c.generator.temporal_window = 1
  # Fast kind's depthwise 3x3: "shift_add" (nine multiply-adds; XLA:CPU's grouped convs are
  # ~10x slower) or "grouped_conv" (XLA's conv). Same parameters: checkpoints load either way.
  c.generator.depthwise_impl = "shift_add"
  # "rgb" or "luma": what the output conv corrects (models/generator.py, CORRECTIONS).
  c.generator.correction = "rgb"
  # > 1 (odd): the correction loses its local mean over this window (0: off; generator.py).
  c.generator.highpass = 0
  # "none", "codec" or "codec_qp": the generator is told which codec made its input (and, with
  # "codec_qp", the decoder's QP map: set data.quantiser=True) (generator.py, CONDITIONINGS);
  # training hides it on train.condition_dropout of the examples, so the model also works where
  # nothing says (images, unknown codecs).
  c.generator.conditioning = "none"

  # ---------------------------------------------------------------- critic
  c.critic = ml_collections.ConfigDict()
  c.critic.kind = "wgan"  # "wgan" (feature-selected W-GAN critic) or "subpatch" (Galteri BCE)
  # Layers: "none", "all", "lpips", "selected" (reads selection.report), or an explicit list.
  c.critic.layers = "selected"
  c.critic.width = 64
  c.critic.proj_channels = 32  # per-tap 1x1 projection width (project choice)
  # < 1: each tap keeps only this fraction of its channels, the top-scoring ones (S_F * S_O) of
  # the selection report; the perceptual loss on those layers uses the same channels. 1.0: all.
  c.critic.channel_keep_fraction = 1.0
  c.critic.rgb_stem = True
  c.critic.num_downsamples = 3
  c.critic.norm = "layer"  # "layer" or "none" (no BatchNorm: gradient penalty)
  # "patches" (strided convs as slices + dot: fast 2nd derivatives for the penalty on XLA:CPU) or
  # "xla" (native convs); same parameters. See jaxenhance/models/conv.py.
  c.critic.conv_impl = "patches"
  c.critic.subpatch = 16  # sub-patch size of the Galteri discriminator

  # ---------------------------------------------------------------- perceptual layer selection
  c.selection = ml_collections.ConfigDict()
  c.selection.network = "vgg16"
  c.selection.size = 224
  c.selection.num_freqs = 20
  c.selection.num_orients = 16
  c.selection.ppd = 32.0  # pixels per degree (project choice)
  c.selection.csf = "mannos_sakrison"  # or "barten"
  c.selection.top_k = 3
  c.selection.threshold = -1.0  # > 0: select layers scoring above it instead of top-k
  c.selection.report = ""  # default: <workdir>/selection/report.json

  # ---------------------------------------------------------------- losses
  c.loss = ml_collections.ConfigDict()
  c.loss.l1 = 1.0
  c.loss.mse = 0.0
  c.loss.ssim = 0.0
  c.loss.perceptual = 0.0  # VGG feature loss on the critic's layers
  c.loss.adversarial = 1e-3
  c.loss.gp = 10.0
  # > 1: lazy gradient penalty, on every gp_every-th step only, weighted gp * gp_every (changes
  # the math; saves most of the other steps' critic cost). 1 is W-GAN-GP as published.
  c.loss.gp_every = 1

  # ---------------------------------------------------------------- training
  c.train = ml_collections.ConfigDict()
  c.train.steps = 20_000
  c.train.n_critic = 5
  # "unroll": n_critic copies of the critic update in the compiled step; "scan": one, in a while
  # loop (less compile time, but XLA:CPU runs it ~6x slower; see steps.py).
  c.train.critic_loop = "unroll"
  # The generator update reuses G(lq) and its VGG taps from the start of the step (their VJP),
  # instead of running both again: same gradients, less time, more memory held (see steps.py).
  c.train.reuse_forward = True
  c.train.condition_dropout = 0.2  # read only with generator.conditioning != "none"
  c.train.warmup_steps = 2_000  # generator on the content loss only
  c.train.lr_generator = 1e-4
  c.train.lr_critic = 1e-4
  c.train.b1 = 0.0  # Adam betas of the critic (W-GAN-GP's (0, 0.9))
  c.train.b2 = 0.9
  c.train.generator_b1 = 0.0  # the generator's Adam betas
  c.train.generator_b2 = 0.9
  c.train.generator_clip_norm = 0.0  # > 0: clip the generator gradient's global norm
  c.train.init_generator = ""  # an export directory: start the generator from it (fine-tuning)
  c.train.nonfinite = "raise"  # or "skip"
  c.train.log_every = 50
  c.train.checkpoint_every = 1_000
  c.train.keep_checkpoints = 3
  c.train.image_summary_every = 1_000
  c.train.eval_every = 2_000  # held-out eval/* scalars (eval.train_metrics); 0 turns it off

  # ---------------------------------------------------------------- devices
  c.mesh = [("data", -1)]
  c.sharding = "data"  # "data" (replicated params) or "fsdp"
  c.distributed = False  # jax.distributed.initialize() (set by the multi-host launchers)

  # ---------------------------------------------------------------- evaluation
  c.eval = ml_collections.ConfigDict()
  c.eval.fid_resize = "bilinear_tf"  # or "bicubic_pil"
  c.eval.kid_subsets = 100
  c.eval.kid_subset_size = 1000
  c.eval.batch_size = 16
  # Metrics of the evaluator (all: psnr, psnr_y, ssim, lpips, fid, kid, niqe) and of the cheap
  # periodic evaluation inside training (every train.eval_every steps; 0 turns it off).
  c.eval.metrics = ("psnr", "psnr_y", "ssim", "lpips", "fid", "kid", "niqe")
  c.eval.train_metrics = ("psnr", "ssim", "lpips")
  # Test records of each periodic evaluation: a fixed, bounded set so it stays cheap.
  c.eval.train_max_examples = 64
  c.eval.max_examples = 0  # 0: the whole test split
  # The main job's held-out suite stage (jaxenhance/suite): "full", "quick" or item ids ("" off),
  # at these rungs (empty: all nine), with the release gate's verdict.
  c.eval.suite = "full"
  c.eval.suite_rungs = ()
  return c
