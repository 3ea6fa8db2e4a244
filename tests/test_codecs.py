"""Real codec round trips on real footage (carphone, 10 frames at 88x72)."""

import itertools

import av
import numpy as np
import pytest
import skimage.color
from PIL import Image

from jaxenhance import codecs
from jaxenhance.data import sources

FPS = 30.0

# (codec, param, values from best to worst quality)
LADDERS = [
    ("h264", "qp", (22, 32, 42)),
    ("hevc", "qp", (22, 32, 42)),
    ("av1", "crf", (20, 40, 60)),
    ("vp9", "crf", (15, 35, 55)),
    ("jpeg", "qf", (90, 50, 10)),
]


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
  frames = sources.sample_clip("carphone", max_frames=10, max_height=72).frames
  assert frames.shape == (10, 72, 88, 3)
  return frames


def _mse(a, b):
  return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


# ---------------------------------------------------------------------------------------------
# Colour conversion.
# ---------------------------------------------------------------------------------------------

def test_bt709_reference_values():
  # BT.709 limited range: white (235,128,128), black (16,128,128), red (63,102,240),
  # green (173,42,26), blue (32,240,118).
  colours = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
                     np.uint8)
  frames = np.broadcast_to(colours[:, None, None, :], (5, 2, 2, 3))
  yuv = codecs.rgb_to_yuv420(frames)
  got = np.stack([yuv.y[:, 0, 0], yuv.u[:, 0, 0], yuv.v[:, 0, 0]], axis=1)
  want = [[235, 128, 128], [16, 128, 128], [63, 102, 240], [173, 42, 26], [32, 240, 118]]
  np.testing.assert_array_equal(got, want)
  back = codecs.yuv420_to_rgb(*yuv)
  assert np.abs(back.astype(int) - frames).max() <= 1


def test_luma_matches_ffmpeg_bt709(clip):
  # FFmpeg's swscale with the BT.709 / limited-range matrix is an independent implementation.
  frame = av.VideoFrame.from_ndarray(clip[0], format="rgb24")
  ref = frame.reformat(format="yuv420p", dst_colorspace="ITU709",
                       dst_color_range="MPEG").to_ndarray()
  ours = codecs.rgb_to_yuv420(clip[:1])
  assert np.abs(ref[:72].astype(int) - ours.y[0]).max() <= 1


def test_colour_round_trip_on_real_frames(clip):
  back = codecs.yuv420_to_rgb(*codecs.rgb_to_yuv420(clip))
  assert back.shape == clip.shape and back.dtype == np.uint8
  assert codecs.psnr(clip, back) > 38.0  # only 4:2:0 chroma loss remains


def test_rgb_to_yuv420_refuses_odd_sizes():
  with pytest.raises(codecs.CodecError, match="even"):
    codecs.rgb_to_yuv420(np.zeros((1, 5, 6, 3), np.uint8))


# Greys, skin tones, the saturated primaries the generator is checked on, and the RGB corners.
PALETTE = np.array([
    [0, 0, 0], [16, 16, 16], [128, 128, 128], [235, 235, 235], [255, 255, 255],
    [224, 172, 140], [198, 134, 100], [141, 85, 36],
    [60, 160, 60], [200, 60, 60], [40, 200, 220], [60, 60, 200],
    [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0],
], np.uint8)
MATRIX_RANGES = list(itertools.product(("bt601", "bt709"), (False, True)))


def _flat(colours: np.ndarray) -> np.ndarray:
  """One flat 2x2 frame per colour, so 4:2:0 chroma is exact: [N, 2, 2, 3]."""
  return np.ascontiguousarray(np.broadcast_to(colours[:, None, None, :], (len(colours), 2, 2, 3)))


def _pixel_ycc(yuv: codecs.YUV420) -> np.ndarray:
  return np.stack([yuv.y[:, 0, 0], yuv.u[:, 0, 0], yuv.v[:, 0, 0]], axis=1).astype(np.float64)


@pytest.mark.parametrize("matrix,full_range", MATRIX_RANGES)
def test_palette_round_trips_within_one_level(matrix, full_range):
  frames = _flat(PALETTE)
  yuv = codecs.rgb_to_yuv420(frames, matrix=matrix, full_range=full_range)
  back = codecs.yuv420_to_rgb(*yuv, matrix=matrix, full_range=full_range)
  assert np.abs(back.astype(int) - frames).max() <= 1
  if full_range:  # full range spends the whole 0-255 scale on luma
    assert (yuv.y[0, 0, 0], yuv.y[4, 0, 0]) == (0, 255)
  else:
    assert (yuv.y[0, 0, 0], yuv.y[4, 0, 0]) == (16, 235)


@pytest.mark.parametrize("matrix,full_range", MATRIX_RANGES)
def test_matrices_agree_with_ffmpeg_swscale_on_flat_colours(matrix, full_range):
  # swscale's RGB -> YUV (which, unlike its YUV -> RGB default, is accurate) is an independent
  # implementation of the same four matrices.
  n = len(PALETTE)
  strip = np.ascontiguousarray(_flat(PALETTE).transpose(1, 0, 2, 3).reshape(2, 2 * n, 3))
  ref = av.VideoFrame.from_ndarray(strip, format="rgb24").reformat(
      format="yuv420p", dst_colorspace="ITU709" if matrix == "bt709" else "ITU601",
      dst_color_range="JPEG" if full_range else "MPEG", interpolation="AREA").to_ndarray()
  chroma = ref[2:].reshape(-1)
  want = np.stack([ref[0, 0::2], chroma[:n], chroma[n:]], axis=1)
  got = _pixel_ycc(codecs.rgb_to_yuv420(_flat(PALETTE), matrix=matrix, full_range=full_range))
  assert np.abs(got - want).max() <= 1


def test_bt601_limited_matches_scikit_image():
  # skimage.color.rgb2ycbcr / ycbcr2rgb: the published BT.601 limited-range formula, evaluated
  # in float64 independently of our code, on the palette and 256 random colours.
  colours = np.concatenate([PALETTE, np.random.default_rng(0).integers(0, 256, (256, 3))])
  colours = colours.astype(np.uint8)
  yuv = codecs.rgb_to_yuv420(_flat(colours), matrix="bt601")
  got = _pixel_ycc(yuv)
  want = skimage.color.rgb2ycbcr(colours[None] / 255.0)[0]
  assert np.abs(got - want).max() <= 0.51  # our planes are the rounded reference
  back = codecs.yuv420_to_rgb(*yuv, matrix="bt601")[:, 0, 0].astype(np.float64)
  want_back = np.clip(skimage.color.ycbcr2rgb(got[None])[0] * 255.0, 0, 255)
  assert np.abs(back - want_back).max() <= 0.51
  # ... and BT.601 full range is the JFIF convention Pillow's libjpeg colour code implements.
  full = _pixel_ycc(codecs.rgb_to_yuv420(_flat(colours), matrix="bt601", full_range=True))
  pillow = np.asarray(Image.fromarray(colours[None]).convert("YCbCr"))[0]
  assert np.abs(full - pillow).max() <= 1


def test_odd_sizes_decode_with_rounded_up_chroma(clip):
  # Decoders store odd-sized 4:2:0 with ceil(H/2) x ceil(W/2) chroma; the result is the even
  # frame's conversion cropped.
  yuv = codecs.rgb_to_yuv420(clip[:2])
  even = codecs.yuv420_to_rgb(*yuv)
  odd = codecs.yuv420_to_rgb(yuv.y[:, :71, :87], yuv.u, yuv.v)
  np.testing.assert_array_equal(odd, even[:, :71, :87])
  with pytest.raises(codecs.CodecError, match="chroma planes"):
    codecs.yuv420_to_rgb(yuv.y, yuv.u[:, :-1], yuv.v)
  with pytest.raises(codecs.CodecError, match="colour matrix"):
    codecs.rgb_to_yuv420(clip[:1], matrix="bt2020")


# ---------------------------------------------------------------------------------------------
# Round trips.
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codec,param,values", LADDERS, ids=[c for c, _, _ in LADDERS])
def test_quality_ladder(clip, codec, param, values):
  trips = [codecs.round_trip(clip, FPS, codecs.EncodeSettings(codec, param, v))
           for v in values]
  for trip in trips:
    assert trip.frames.shape == clip.shape and trip.frames.dtype == np.uint8
    assert len(trip.picture_types) == len(clip)
    assert trip.picture_types[0] == "I"
    assert set(trip.picture_types) <= {"I", "P", "B"}
    assert trip.num_bytes > 0 and trip.bits_per_pixel > 0
    assert trip.bits_per_pixel == pytest.approx(trip.num_bytes * 8 / clip[..., 0].size)
    assert trip.bitrate == pytest.approx(trip.num_bytes * 8 * FPS / len(clip))
  psnrs = [codecs.psnr(clip, t.frames) for t in trips]
  bpps = [t.bits_per_pixel for t in trips]
  assert psnrs[0] > 30.0, psnrs
  assert all(a > b for a, b in itertools.pairwise(psnrs)), (codec, psnrs)
  assert all(a > b for a, b in itertools.pairwise(bpps)), (codec, bpps)
  if codec != "jpeg":
    assert set(trips[0].picture_types) & {"P", "B"}, trips[0].picture_types
  # Alignment: decoded frame t is closer to source t than to its neighbours.
  best = trips[0].frames
  for t in range(len(clip)):
    own = _mse(best[t], clip[t])
    for s in (t - 1, t + 1):
      if 0 <= s < len(clip):
        assert own < _mse(best[t], clip[s]), (codec, t, s)


@pytest.mark.parametrize("codec", ["h264", "hevc"])
def test_crf_rate_control(clip, codec):
  low, high = (codecs.round_trip(clip, FPS, codecs.EncodeSettings(codec, "crf", v))
               for v in (20, 40))
  assert codecs.psnr(clip, low.frames) > codecs.psnr(clip, high.frames)
  assert low.num_bytes > high.num_bytes


@pytest.mark.parametrize("codec,param", [("h264", "qp"), ("hevc", "qp"), ("av1", "crf"),
                                         ("vp9", "crf")])
def test_gop_sets_key_frames(clip, codec, param):
  trip = codecs.round_trip(clip, FPS, codecs.EncodeSettings(codec, param, 30, gop=4))
  assert [trip.picture_types[i] for i in (0, 4, 8)] == ["I", "I", "I"], trip.picture_types


def test_odd_size_is_padded_and_cropped_back(clip):
  frames = np.ascontiguousarray(clip[:4, :71, :87])
  for settings in (codecs.EncodeSettings("h264", "qp", 20),
                   codecs.EncodeSettings("jpeg", "qf", 95)):
    trip = codecs.round_trip(frames, FPS, settings)
    assert trip.frames.shape == frames.shape
    assert codecs.psnr(frames, trip.frames) > 33.0
  # Smaller than libx265's 16x16 minimum: padded up, cropped back.
  tiny = np.ascontiguousarray(clip[:3, 20:27, 30:39])
  trip = codecs.round_trip(tiny, FPS, codecs.EncodeSettings("hevc", "qp", 20))
  assert trip.frames.shape == tiny.shape


@pytest.mark.parametrize("kwargs,match", [
    ({"codec": "mpeg2", "param": "qp", "value": 30}, "unknown codec"),
    ({"codec": "av1", "param": "qp", "value": 30}, "rate parameter"),
    ({"codec": "h264", "param": "qp", "value": 60}, "out of range"),
    ({"codec": "jpeg", "param": "qf", "value": 0}, "out of range"),
    ({"codec": "vp9", "param": "crf", "value": 30, "gop": 0}, "gop"),
])
def test_bad_settings_are_refused(kwargs, match):
  with pytest.raises(codecs.CodecError, match=match):
    codecs.EncodeSettings(**kwargs)


def test_bad_frames_are_refused(clip):
  settings = codecs.EncodeSettings("h264", "qp", 30)
  with pytest.raises(codecs.CodecError, match="uint8"):
    codecs.round_trip(clip.astype(np.float32) / 255, FPS, settings)
  with pytest.raises(codecs.CodecError, match=r"\[T, H, W, 3\]"):
    codecs.round_trip(clip[0], FPS, settings)
  with pytest.raises(codecs.CodecError, match="fps"):
    codecs.round_trip(clip, 0.0, settings)
