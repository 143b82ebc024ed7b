"""Images: ConSE placement in text spaces, and every kind of bad image file."""

import io

import numpy as np
import pytest
from conftest import cos
from PIL import Image

from embedspace import InputError
from embedspace.images import load_image, load_images


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_cat_photo_lands_near_cat_words_in_any_language(use_space, cat_photo):
    image = use_space.embed_images([cat_photo])[0]
    assert image.shape == (512,) and abs(np.linalg.norm(image) - 1) < 1e-5
    gato, a_cat, cafe, rocket = use_space.embed_texts(["gato", "a cat", "café", "rocket"])
    for cat in (gato, a_cat):
        assert cos(image, cat) > cos(image, cafe) and cos(image, cat) > cos(image, rocket)


def test_images_from_paths_bytes_pil_and_arrays_agree(use_space, cat_photo, tmp_path):
    pil = Image.fromarray(cat_photo)
    path = tmp_path / "cat.png"
    pil.save(path)
    vectors = use_space.embed_images([cat_photo, pil, str(path), path.read_bytes()])
    for row in vectors[1:]:
        np.testing.assert_allclose(row, vectors[0], atol=1e-5)


def test_classifier_features_support_image_to_image_similarity(use_space, cat_photo):
    import skimage.data

    cat, flipped, rocket = use_space.image_features(
        [cat_photo, cat_photo[:, ::-1].copy(), skimage.data.rocket()]
    )
    assert cat.shape == (1280,)
    assert cos(cat, flipped) > cos(cat, rocket)
    assert use_space.image_encoder.top_classes([cat_photo])[0][0][0] in {"Egyptian cat", "tabby", "tiger cat"}


def test_transparent_png_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(png_bytes(rgba)).getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    r, g, b = load_image(path).getpixel((0, 0))
    assert b > 200 and g < 50


def test_non_image_file_is_refused(tmp_path, use_space):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image")
    with pytest.raises(InputError, match="not an image"):
        use_space.embed_images([path])


def test_truncated_jpeg_is_refused(tmp_path, cat_photo):
    buffer = io.BytesIO()
    Image.fromarray(cat_photo).save(buffer, format="JPEG")
    data = buffer.getvalue()
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_before_decoding():
    bomb = png_bytes(Image.new("1", (8000, 8000)))  # 64 Mpx in a ~10 kB file
    assert len(bomb) < 100_000
    with pytest.raises(InputError, match="decompression bomb"):
        load_image(bomb)


def test_missing_and_empty_and_wrong_type_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="empty"):
        load_image(b"")
    with pytest.raises(InputError, match="Cannot read an image from a int"):
        load_image(42)


def test_batch_loading_can_skip_and_report(tmp_path, cat_photo):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    images, skipped = load_images([cat_photo, bad, cat_photo], skip_errors=True)
    assert len(images) == 2
    assert skipped[0][0] == 1 and "bad.png" in skipped[0][1]
    with pytest.raises(InputError, match="Image 1"):
        load_images([cat_photo, bad])
