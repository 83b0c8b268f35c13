"""Robust decoding: every kind of bad or unusual file becomes a correct RGB image or a reason."""

from __future__ import annotations

import io

import embed_builders as eb
import numpy as np
import pytest
import torch
from PIL import Image

from inquire.data.decode import DecodeError, FileSlice, Unavailable, decode_image
from inquire.embed.pipeline import embed_stream, prepare_batch

FILES = eb.bad_files()


@pytest.mark.parametrize("name", sorted(eb.SKIPPED))
def test_bad_files_raise_a_reason(name):
    with pytest.raises(DecodeError) as err:
        decode_image(FILES[name])
    assert str(err.value).startswith(eb.SKIPPED[name])


def test_bad_file_on_disk_and_missing_file(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(DecodeError, match="empty file"):
        decode_image(tmp_path / "zero.jpg")
    with pytest.raises(DecodeError, match="file not found"):
        decode_image(str(tmp_path / "absent.jpg"))


def test_bomb_between_one_and_two_times_the_limit_is_refused_too():
    # Pillow only warns below twice its limit; a warning must not let the image through
    side = int((Image.MAX_IMAGE_PIXELS * 1.2) ** 0.5)
    with pytest.raises(DecodeError, match="decompression bomb"):
        decode_image(eb.png_with_header(side, side))


def test_cmyk_becomes_rgb_with_its_colour():
    img = decode_image(FILES["cmyk.jpg"])
    assert img.mode == "RGB"
    r, g, b = np.asarray(img)[15, 20].astype(int)
    assert r > 200 and g < 60 and b < 60  # C=0, M=Y=full: red


def test_16_bit_greyscale_is_scaled_not_clipped():
    img = decode_image(FILES["gray16.png"])
    arr = np.asarray(img)[..., 0].astype(int)
    assert img.mode == "RGB"
    assert arr.min() == 0 and arr.max() == 255
    assert 100 < np.median(arr) < 156  # a ramp stays a ramp; clipping would make it mostly white


def test_transparency_is_composited_on_white():
    pal = np.asarray(decode_image(FILES["palette.png"]))
    assert tuple(pal[5, 5]) == (255, 255, 255)  # transparent palette index
    assert tuple(pal[5, 30]) == (0, 200, 0)  # opaque green
    assert tuple(np.asarray(decode_image(FILES["alpha.png"]))[0, 0]) == (255, 255, 255)


def test_exif_orientation_is_applied():
    raw = Image.open(io.BytesIO(FILES["rotated.jpg"]))
    assert raw.size == (60, 30)
    img = decode_image(FILES["rotated.jpg"])
    assert img.size == (30, 60)
    arr = np.asarray(img).astype(int)
    assert arr[5, 15, 0] > 200 and arr[55, 15, 0] < 60  # red half is now on top


def test_float_and_32_bit_images():
    f = Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32))
    assert np.asarray(decode_image(eb.encode(f, "TIFF")))[0, 0, 0] in (127, 128)
    i32 = Image.fromarray(np.full((4, 4), 200, dtype=np.int32))
    assert np.asarray(decode_image(eb.encode(i32, "TIFF")))[0, 0, 0] == 200


def test_file_slice_and_unavailable(tmp_path):
    data = FILES["cmyk.jpg"]
    (tmp_path / "blob").write_bytes(b"x" * 10 + data + b"y" * 5)
    assert decode_image(FileSlice(str(tmp_path / "blob"), 10, len(data))).size == (40, 30)
    with pytest.raises(DecodeError, match="corrupt or truncated"):
        decode_image(FileSlice(str(tmp_path / "blob"), 10, len(data) + 100))  # reads past the end
    with pytest.raises(DecodeError, match="no image in the sample"):
        decode_image(Unavailable("no image in the sample"))


def _failing_transform(img: Image.Image) -> torch.Tensor:
    if img.size[0] < 10:
        raise ValueError("too small")
    return torch.zeros(3, 4, 4)


def test_prepare_batch_records_preprocessing_failures():
    items = [(0, eb.encode(Image.new("RGB", (5, 5)), "PNG")), (1, FILES["cmyk.jpg"]), (2, b"")]
    batch = prepare_batch(_failing_transform, items)
    assert batch.keys == [1]
    assert [k for k, _ in batch.skipped] == [0, 2]
    assert batch.skipped[0][1].startswith("preprocessing failed (ValueError")


def test_embed_stream_plain_loop_keeps_order():
    items = [(i, FILES["cmyk.jpg"] if i % 3 else b"") for i in range(7)]
    out = list(
        embed_stream(
            lambda px: px.reshape(len(px), -1)[:, :2].numpy(),
            _failing_transform,
            items,
            batch_size=3,
            workers=0,
        )
    )
    assert [b.n_input for b in out] == [3, 3, 1]
    assert [k for b in out for k in b.keys] == [1, 2, 4, 5]
    assert [k for b in out for k, _ in b.skipped] == [0, 3, 6]
