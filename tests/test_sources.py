"""Footage sources and robust video reading, on real footage and on bad files made on the fly."""

import fractions
import logging

import av
import numpy as np
import pytest
import skimage.data
from PIL import Image

from jaxenhance import assets, codecs, video_io
from jaxenhance.data import sources


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
  """12 real frames (carphone, area-downscaled to 88x72)."""
  return sources.sample_clip("carphone", max_frames=12, max_height=72).frames


def write_video(path, frames, codec="libx264", pix_fmt="yuv420p", rate=25, options=None,
                pts_ms=None, rotation=None, container_options=None, audio=False):
  """Writes RGB frames with PyAV; ``pts_ms`` gives millisecond timestamps (variable rate)."""
  with av.open(str(path), "w", options=container_options or {}) as container:
    stream = container.add_stream(codec, rate=rate)
    stream.height, stream.width = frames.shape[1:3]
    stream.pix_fmt = pix_fmt
    stream.options = options or {}
    if pts_ms is not None:
      stream.codec_context.time_base = stream.time_base = fractions.Fraction(1, 1000)
    if rotation is not None:
      stream.set_display_rotation(rotation)
    if audio:
      astream = container.add_stream("aac", rate=16000)
    for i, rgb in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
      if pts_ms is not None:
        frame.pts, frame.time_base = pts_ms[i], fractions.Fraction(1, 1000)
      container.mux(stream.encode(frame))
    container.mux(stream.encode())
    if audio:
      for i in range(8):
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                             layout="mono")
        samples.sample_rate, samples.pts = 16000, i * 1024
        container.mux(astream.encode(samples))
      container.mux(astream.encode())
  return path


# ---------------------------------------------------------------------------------------------
# Clips from real footage.
# ---------------------------------------------------------------------------------------------

def test_sample_clip_is_downscaled_at_least_2x():
  clip = sources.sample_clip("bikes", max_frames=3)  # 640x272 source, no height limit
  assert clip.source_id == "sample:bikes"
  assert clip.frames.shape == (3, 136, 320, 3) and clip.frames.dtype == np.uint8
  assert clip.fps == pytest.approx(25.0)
  smaller = sources.sample_clip("bikes", max_frames=2, max_height=68)
  assert smaller.frames.shape[1:3] == (68, 160)


def test_load_video_area_downscale_matches_box_mean(tmp_path, frames):
  path = write_video(tmp_path / "clip.mkv", frames, "ffv1", "bgr0")  # lossless container
  full = sources.load_video(path)
  np.testing.assert_array_equal(full.frames, frames)
  assert full.source_id == f"file:{path.resolve()}"
  half = sources.load_video(path, max_frames=5, max_height=36, start=2)
  box = frames[2:7].reshape(5, 36, 2, 44, 2, 3).astype(np.float64).mean(axis=(2, 4))
  assert half.frames.shape == (5, 36, 44, 3)
  assert np.abs(half.frames - box).max() <= 1.0


def test_odd_sizes_become_even(tmp_path, frames):
  odd = np.ascontiguousarray(frames[:3, :71, :87])
  path = write_video(tmp_path / "odd.mkv", odd, "ffv1", "bgr0")
  clip = sources.load_video(path)
  assert clip.frames.shape == (3, 70, 86, 3)  # last row/column cropped, nothing resampled
  np.testing.assert_array_equal(clip.frames, odd[:, :70, :86])


def test_photo_clip_pans_and_zooms_over_a_real_photo():
  clip = sources.photo_clip("astronaut", num_frames=8, size=(64, 96), fps=24, seed=1)
  assert clip.source_id == "photo:astronaut" and clip.fps == 24
  assert clip.frames.shape == (8, 64, 96, 3) and clip.frames.dtype == np.uint8
  again = sources.photo_clip("astronaut", num_frames=8, size=(64, 96), fps=24, seed=1)
  np.testing.assert_array_equal(clip.frames, again.frames)
  other = sources.photo_clip("astronaut", num_frames=8, size=(64, 96), fps=24, seed=2)
  assert not np.array_equal(clip.frames, other.frames)
  f = clip.frames.astype(np.float64)
  steps = [np.abs(f[i + 1] - f[i]).mean() for i in range(7)]
  assert min(steps) > 0  # the camera moves every frame ...
  assert max(steps) < np.abs(f[-1] - f[0]).mean()  # ... smoothly, not jumping
  assert clip.frames.std() > 20  # real content, not a blank frame


def test_resolve_sources_every_spec_form(tmp_path, frames):
  videos = tmp_path / "videos"
  videos.mkdir()
  write_video(videos / "a.mp4", frames[:4])
  write_video(videos / "b.mkv", frames[4:8])
  (videos / "notes.txt").write_text("not a video")
  photos = tmp_path / "photos"
  photos.mkdir()
  Image.fromarray(assets.sample_photo("coffee")).save(photos / "coffee.png")
  specs = ["sample:carphone", f"file:{videos / 'a.mp4'}", f"dir:{videos}", "photo:chelsea",
           f"photo:{photos / 'coffee.png'}", "photos:sample", f"photodir:{photos}"]
  clips = sources.resolve_sources(specs, max_frames=4, max_height=48, fps=20)
  ids = [c.source_id for c in clips]
  assert len(ids) == len(set(ids))  # a.mp4, chelsea and coffee.png are named twice, kept once
  assert ids[:3] == ["sample:carphone", f"file:{(videos / 'a.mp4').resolve()}",
                     f"file:{(videos / 'b.mkv').resolve()}"]
  assert {f"photo:{n}" for n in assets.SAMPLE_PHOTOS} <= set(ids)
  assert f"photo:{(photos / 'coffee.png').resolve()}" in ids
  for clip in clips:
    t, h, w, _ = clip.frames.shape
    assert t == 4 and h <= 48 and h % 2 == 0 and w % 2 == 0, (clip.source_id, clip.frames.shape)
  assert next(c for c in clips if c.source_id == "photo:chelsea").fps == 20


@pytest.mark.parametrize("spec,match", [
    ("bikes", "bad source spec"),
    ("youtube:abc", "unknown source kind"),
    ("sample:foreman", "unknown sample clip"),
    ("photo:/no/such.png", "neither a sample photo"),
    ("photos:mine", "photodir"),
    ("dir:/no/such/dir", "not a directory"),
])
def test_resolve_sources_bad_specs(spec, match):
  with pytest.raises(ValueError, match=match):
    sources.resolve_sources([spec], max_frames=2, max_height=32)


def _fake_clips(n):
  return [sources.Clip(f"file:/v/{i}.mp4", np.zeros((1, 2, 2, 3), np.uint8), 25.0)
          for i in range(n)]


def test_split_by_source_is_disjoint_and_stable():
  clips = _fake_clips(10)
  split = sources.split_by_source(clips, test_fraction=0.3, seed=0)
  train = {c.source_id for c in split["train"]}
  test = {c.source_id for c in split["test"]}
  assert len(test) == 3 and len(train) == 7 and not train & test
  shuffled = sources.split_by_source(clips[::-1], test_fraction=0.3, seed=0)
  assert {c.source_id for c in shuffled["test"]} == test  # independent of clip order
  two = sources.split_by_source(_fake_clips(2), test_fraction=0.1)
  assert len(two["train"]) == 1 and len(two["test"]) == 1


def test_split_by_source_explicit_lists():
  clips = _fake_clips(3)
  ids = [c.source_id for c in clips]
  split = sources.split_by_source(clips, splits={"train": ids[:2], "test": ids[2:]})
  assert [c.source_id for c in split["test"]] == ids[2:]
  with pytest.raises(sources.SourceError, match="in both"):
    sources.split_by_source(clips, splits={"train": ids, "test": ids[2:]})
  with pytest.raises(sources.SourceError, match="in no split"):
    sources.split_by_source(clips, splits={"train": ids[:1], "test": ids[2:]})
  with pytest.raises(sources.SourceError, match="unknown sources"):
    sources.split_by_source(clips, splits={"train": ids + ["sample:bikes"]})


def test_resolve_splits_refuses_a_source_in_train_and_test():
  with pytest.raises(sources.SourceError, match="in both"):
    sources.resolve_splits({"train": ["photo:rocket", "photo:coffee"], "test": ["photo:coffee"]},
                           max_frames=2, max_height=32)


# ---------------------------------------------------------------------------------------------
# Clips that cannot serve a model.
# ---------------------------------------------------------------------------------------------

def test_clip_shorter_than_temporal_window():
  clip = sources.sample_clip("carphone", max_frames=2, max_height=72)
  sources.check_min_frames(clip, 1)
  with pytest.raises(sources.SourceError, match="2 frames, fewer than the 3 needed"):
    sources.check_min_frames(clip, 3)


def test_frames_smaller_than_patch():
  clip = sources.sample_clip("carphone", max_frames=1, max_height=72)  # 72x88
  sources.check_min_size(clip, 64)
  with pytest.raises(sources.SourceError, match="smaller than the 96x96 patch"):
    sources.check_min_size(clip, 96)


# ---------------------------------------------------------------------------------------------
# Bad and unusual files.
# ---------------------------------------------------------------------------------------------

def test_zero_byte_file(tmp_path):
  path = tmp_path / "empty.mp4"
  path.touch()
  with pytest.raises(video_io.VideoError, match="empty"):
    video_io.probe(path)
  with pytest.raises(video_io.VideoError, match="empty"):
    sources.load_video(path)


def test_text_file_named_mp4(tmp_path):
  path = tmp_path / "notes.mp4"
  path.write_text("these are my notes, not a video\n" * 20)
  with pytest.raises(video_io.VideoError, match="not a video file.*starts with text"):
    list(video_io.iter_frames(path))


def test_missing_file_and_directory(tmp_path):
  with pytest.raises(video_io.VideoError, match="no such file"):
    video_io.probe(tmp_path / "nope.mp4")
  with pytest.raises(video_io.VideoError, match="directory"):
    video_io.probe(tmp_path)


def test_truncated_mp4_index_at_end(tmp_path, frames):
  data = write_video(tmp_path / "full.mp4", frames).read_bytes()
  path = tmp_path / "cut.mp4"
  path.write_bytes(data[: len(data) // 2])
  with pytest.raises(video_io.VideoError, match="truncated"):
    sources.load_video(path)


def test_truncated_mp4_index_at_start(tmp_path, frames):
  # 36 frames, so that the first half of the file holds some whole frames.
  long = np.concatenate([frames, frames[::-1], frames])
  full = write_video(tmp_path / "full.mp4", long, container_options={"movflags": "+faststart"})
  data = full.read_bytes()
  path = tmp_path / "cut.mp4"
  path.write_bytes(data[: len(data) // 2])
  with pytest.raises(video_io.VideoError, match="truncated"):
    video_io.probe(path)
  with pytest.raises(video_io.VideoError, match="truncated"):
    list(video_io.iter_frames(path))
  kept = list(video_io.iter_frames(path, strict=False))  # the frames before the cut
  assert 0 < len(kept) < len(long)


def test_audio_only_file(tmp_path):
  path = tmp_path / "speech.m4a"
  with av.open(str(path), "w", format="mp4") as container:
    stream = container.add_stream("aac", rate=16000)
    for i in range(8):
      samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                           layout="mono")
      samples.sample_rate, samples.pts = 16000, i * 1024
      container.mux(stream.encode(samples))
    container.mux(stream.encode())
  with pytest.raises(video_io.VideoError, match="no video stream.*audio"):
    sources.load_video(path)


def test_video_with_audio_reports_it(tmp_path, frames):
  path = write_video(tmp_path / "av.mp4", frames[:4], audio=True)
  info = video_io.probe(path)
  assert info.has_audio and info.num_frames == 4


@pytest.mark.parametrize("codec,pix_fmt,options,depth", [
    ("libx265", "yuv420p10le", {"x265-params": "qp=4:log-level=error"}, 10),
    ("libx264", "yuv444p", {"qp": "4"}, 8),
])
def test_high_bit_depth_and_444_are_converted_to_rgb(tmp_path, frames, codec, pix_fmt, options,
                                                     depth):
  path = write_video(tmp_path / "src.mp4", frames[:4], codec, pix_fmt, options=options)
  info = video_io.probe(path)
  assert (info.pix_fmt, info.bit_depth) == (pix_fmt, depth)
  clip = sources.load_video(path)
  assert clip.frames.shape == (4, 72, 88, 3) and clip.frames.dtype == np.uint8
  # Near-lossless coding; what remains is swscale's 4:2:0 chroma (~35 dB). Reading 10-bit
  # samples as 8-bit, or the wrong plane layout, gives < 15 dB.
  assert codecs.psnr(frames[:4], clip.frames) > 32.0


def test_gray_source_is_converted_to_rgb(tmp_path, frames):
  path = write_video(tmp_path / "gray.mkv", frames[:4], "ffv1", "gray")
  assert video_io.probe(path).pix_fmt == "gray"
  clip = sources.load_video(path)
  assert clip.frames.shape == (4, 72, 88, 3)
  assert np.array_equal(clip.frames[..., 0], clip.frames[..., 1])
  assert np.array_equal(clip.frames[..., 1], clip.frames[..., 2])
  luma = codecs.rgb_to_yuv420(frames[:4]).y.astype(np.float64)
  luma_full = (luma - 16) * 255 / 219  # gray is full range
  assert np.abs(clip.frames[..., 0] - luma_full).mean() < 3.0


def test_variable_frame_rate_is_detected(tmp_path, frames, caplog):
  pts_ms = [0, 40, 80, 100, 120, 200, 240, 250, 300, 400, 420, 500]
  path = write_video(tmp_path / "vfr.mkv", frames, pts_ms=pts_ms)
  info = video_io.probe(path)
  assert info.variable_frame_rate is True
  assert info.fps == pytest.approx(11 / 0.5)  # average over the timestamps
  assert info.num_frames == 12
  with caplog.at_level(logging.INFO):
    clip = sources.load_video(path)
  assert clip.frames.shape[0] == 12 and clip.fps == pytest.approx(22.0)
  assert "variable frame rate" in caplog.text
  # Presentation order: frame i of the clip is source frame i.
  for i in range(12):
    errors = [codecs.psnr(frames[j], clip.frames[i]) for j in range(12)]
    assert int(np.argmax(errors)) == i
  constant = write_video(tmp_path / "cfr.mp4", frames[:5])
  assert video_io.probe(constant).variable_frame_rate is False


def test_rotation_metadata_is_read_and_applied(tmp_path, frames):
  path = write_video(tmp_path / "phone.mp4", frames[:2], options={"qp": "4"}, rotation=90)
  info = video_io.probe(path)
  assert info.rotation == 90 and (info.height, info.width) == (72, 88)
  stored = next(video_io.iter_frames(path))
  assert stored.shape == (72, 88, 3)
  clip = sources.load_video(path)
  assert clip.frames.shape == (2, 88, 72, 3)  # upright
  assert codecs.psnr(np.rot90(frames[0]), clip.frames[0]) > 35.0


def test_iter_frames_streams_with_start_and_limit(tmp_path, frames):
  path = write_video(tmp_path / "clip.mkv", frames, "ffv1", "bgr0")
  stream = video_io.iter_frames(path, start=3, max_frames=4)
  first = next(stream)
  np.testing.assert_array_equal(first, frames[3])
  rest = list(stream)
  assert len(rest) == 3
  np.testing.assert_array_equal(rest[-1], frames[6])


# ---------------------------------------------------------------------------------------------
# Colour: 8-bit 4:2:0 decodes with the training pairs' exact matrix.
# ---------------------------------------------------------------------------------------------

SATURATED = np.array([[60, 160, 60], [200, 60, 60], [40, 200, 220], [60, 60, 200],
                      [128, 128, 128], [224, 172, 140]], np.uint8)


def write_lossless_420(path, frames, colorspace=None, full_range=False, codec="libx264",
                       matrix="bt709"):
  """Lossless (x264 QP 0 or VP9 lossless) 4:2:0 from RGB by ``codecs.rgb_to_yuv420`` with
  ``matrix`` and range (checked against independent references in test_codecs.py), tagged with
  ``colorspace`` (AVColorSpace: 1 BT.709, 5 BT.470BG, 6 SMPTE 170M) and the range, or left
  untagged."""
  height, width = frames.shape[1:3]
  with av.open(str(path), "w") as container:
    stream = container.add_stream(codec, rate=25)
    stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
    stream.options = ({"qp": "0", "preset": "ultrafast"} if codec == "libx264" else
                      {"lossless": "1", "deadline": "realtime"})  # libvpx-vp9
    if colorspace is not None:
      stream.codec_context.colorspace = colorspace
      stream.codec_context.color_range = 2 if full_range else 1
    for rgb in frames:
      planes = codecs.rgb_to_yuv420(rgb, matrix=matrix, full_range=full_range)
      i420 = np.concatenate([p.reshape(-1) for p in planes]).reshape(-1, width)
      container.mux(stream.encode(av.VideoFrame.from_ndarray(i420, format="yuv420p")))
    container.mux(stream.encode())
  return path


def flat_frames(colours, height=32, width=32):
  return np.ascontiguousarray(
      np.broadcast_to(colours[:, None, None, :], (len(colours), height, width, 3)))


def test_bt709_420_decodes_exactly_as_training_pairs(tmp_path):
  flat = flat_frames(SATURATED)
  path = write_lossless_420(tmp_path / "flat.mp4", flat, colorspace=1)
  got = np.stack(list(video_io.iter_frames(path)))
  assert np.abs(got.astype(int) - flat).max() <= 1

  photo = skimage.data.astronaut()  # a real photo, 512x512 (even)
  path = write_lossless_420(tmp_path / "photo.mp4", photo[None], colorspace=1)
  got = next(video_io.iter_frames(path))
  # Lossless in YUV, so reading the file must give exactly the training pairs' decode.
  np.testing.assert_array_equal(got, codecs.yuv420_to_rgb(*codecs.rgb_to_yuv420(photo)))
  shift = (got.astype(np.float64) - photo).mean(axis=(0, 1))
  assert np.abs(shift).max() < 0.25, shift  # measured (-0.02, +0.00, +0.03)
  # The swscale path iter_frames used before returns the same file about a level darker
  # (measured -0.91, -1.34, -0.87 with PyAV 18.1): what training never saw.
  with av.open(str(path)) as container:
    swscale = next(container.decode(video=0)).to_ndarray(format="rgb24")
  swscale_shift = (swscale.astype(np.float64) - photo).mean(axis=(0, 1))
  assert swscale_shift.min() < -0.5, swscale_shift


@pytest.mark.parametrize("rows,colorspace,full_range,codec,decoded,want", [
    (64, 6, False, "libx264", "yuv420p", ("bt601", False)),  # tagged SMPTE 170M (BT.601)
    (64, 5, False, "libx264", "yuv420p", ("bt601", False)),  # tagged BT.470BG (BT.601)
    (64, None, False, "libx264", "yuv420p", ("bt601", False)),  # untagged SD: BT.601
    (720, None, False, "libx264", "yuv420p", ("bt709", False)),  # untagged HD: BT.709
    # Full range: FFmpeg's H.264 decoder returns it as yuvj420p, VP9's as yuv420p tagged JPEG.
    (64, 5, True, "libx264", "yuvj420p", ("bt601", True)),
    (64, 1, True, "libvpx-vp9", "yuv420p", ("bt709", True)),
])
def test_420_matrix_and_range_follow_the_stream_tags(tmp_path, rows, colorspace, full_range,
                                                     codec, decoded, want):
  flat = flat_frames(SATURATED[:4], height=rows, width=16)
  path = write_lossless_420(tmp_path / "tagged.mkv", flat, colorspace, full_range, codec,
                            matrix=want[0])
  with av.open(str(path)) as container:
    frame = next(container.decode(video=0))
    assert frame.format.name == decoded
    assert codecs.frame_colour(frame) == want
  got = np.stack(list(video_io.iter_frames(path)))
  assert np.abs(got.astype(int) - flat).max() <= 1


def test_odd_sized_420_is_decoded_exactly(tmp_path):
  # VP9, AV1 and FFV1 store odd sizes in 4:2:0 with rounded-up chroma planes (here 24x32 for
  # 47x63), in rows padded to the plane's line size.
  photo = sources.area_resize(skimage.data.astronaut(), (64, 64))[:, :48]
  y, u, v = codecs.rgb_to_yuv420(photo, matrix="bt601")
  frame = av.VideoFrame(47, 63, "yuv420p")
  for plane, data in zip(frame.planes, (y[:63, :47], u, v)):
    rows = np.zeros((plane.height, plane.line_size), np.uint8)
    rows[:, :plane.width] = data
    plane.update(rows)
  path = tmp_path / "odd.mkv"
  with av.open(str(path), "w") as container:  # FFV1: lossless, untagged
    stream = container.add_stream("ffv1", rate=25)
    stream.width, stream.height, stream.pix_fmt = 47, 63, "yuv420p"
    container.mux(stream.encode(frame))
    container.mux(stream.encode())
  got = next(video_io.iter_frames(path))
  want = codecs.yuv420_to_rgb(y, u, v, matrix="bt601")[:63, :47]  # untagged SD: BT.601
  np.testing.assert_array_equal(got, want)
  assert codecs.psnr(photo[:63, :47], got) > 30.0  # only 4:2:0 chroma loss remains


def test_photo_heights_animate_each_photo_at_each_scale_as_one_source():
  clips = sources.resolve_sources(["photo:chelsea", "photo:coffee"], max_frames=3, max_height=64,
                                  photo_heights=(48, 96))
  assert [c.source_id for c in clips] == ["photo:chelsea@48", "photo:chelsea@96",
                                          "photo:coffee@48", "photo:coffee@96"]
  assert [c.size[0] for c in clips] == [48, 96, 48, 96]
  # Each scale has its own camera path, but all scales of a photo are one source for splits.
  assert sources.base_source_id("photo:chelsea@96") == "photo:chelsea"
  assert sources.base_source_id("file:/v/a@96") == "file:/v/a@96"
  with pytest.raises(sources.SourceError, match="photo:chelsea is in both"):
    sources.check_disjoint({"train": clips[:1], "test": clips[1:2]})
  sources.check_disjoint({"train": clips[:2], "test": clips[2:]})
  # Without photo_heights a photo is one clip at max_height, with its plain id.
  (plain,) = sources.resolve_sources(["photo:chelsea"], max_frames=3, max_height=64)
  assert plain.source_id == "photo:chelsea" and plain.size[0] == 64
