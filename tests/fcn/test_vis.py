"""vis.py: palettes, colored labels, overlays, palette PNGs, panels."""
import numpy as np
import pytest
from PIL import Image

from fcn import vis

# PASCAL VOC's colors (devkit labelcolormap): background, aeroplane, bicycle, bird, boat,
# bottle, bus, car, cat, chair, cow, ..., person (15), ..., tvmonitor (20)
VOC = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 4: (0, 0, 128),
       5: (128, 0, 128), 6: (0, 128, 128), 7: (128, 128, 128), 8: (64, 0, 0), 9: (192, 0, 0),
       10: (64, 128, 0), 15: (192, 128, 128), 20: (0, 64, 128), 255: (224, 224, 192)}


def test_voc_palette_has_vocs_colors():
    palette = vis.voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    for label, color in VOC.items():
        assert tuple(palette[label]) == color, label


@pytest.mark.parametrize('n', [21, 33, 40, 60, 256])
def test_general_palette_extends_vocs_with_distinct_colors(n):
    palette = vis.make_palette(n)
    assert palette.shape == (n, 3)
    np.testing.assert_array_equal(palette, vis.voc_palette()[:n])
    assert len({tuple(c) for c in palette}) == n


def test_get_palette_from_the_command_line():
    np.testing.assert_array_equal(vis.get_palette('voc'), vis.voc_palette())
    assert vis.get_palette('40').shape == (40, 3)
    for bad in ('jet', '0', '300'):
        with pytest.raises(ValueError):
            vis.get_palette(bad)


def test_color_label_uses_void_color_for_255_with_any_palette():
    label = np.array([[0, 1, 2], [15, 255, 3]])
    rgb = vis.color_label(label, vis.make_palette(21))
    assert rgb.shape == (2, 3, 3)
    assert tuple(rgb[0, 1]) == (128, 0, 0) and tuple(rgb[1, 0]) == (192, 128, 128)
    assert tuple(rgb[1, 1]) == (224, 224, 192)
    with pytest.raises(ValueError, match='0..255'):
        vis.color_label(np.array([[256]]), vis.voc_palette())
    with pytest.raises(ValueError, match='0..255'):
        vis.color_label(np.array([[-1]]), vis.voc_palette())


def test_label_png_is_a_palette_image_of_class_indices(tmp_path):
    label = np.arange(12).reshape(3, 4) * 3
    label[0, 0] = 255
    path = tmp_path / 'label.png'
    vis.save_label(path, label, vis.make_palette(40))
    with Image.open(path) as im:
        assert im.mode == 'P'
        colors = np.array(im.getpalette()[:768]).reshape(256, 3)
    np.testing.assert_array_equal(colors[:40], vis.make_palette(40))
    assert tuple(colors[255]) == (224, 224, 192)
    np.testing.assert_array_equal(vis.read_label(path), label)
    vis.save_label(tmp_path / 'voc.png', label)  # default palette: VOC's 256 colors
    with Image.open(tmp_path / 'voc.png') as im:
        assert np.array(im.getpalette()).reshape(-1, 3)[9].tolist() == [192, 0, 0]


def test_read_label_rejects_color_images(tmp_path):
    Image.new('RGB', (2, 2)).save(tmp_path / 'rgb.png')
    with pytest.raises(ValueError, match='palette or grayscale'):
        vis.read_label(tmp_path / 'rgb.png')


def test_overlay_blends_colors_and_leaves_background_and_void():
    image = np.full((2, 2, 3), 100, np.uint8)
    label = np.array([[1, 0], [255, 2]])
    out = vis.overlay(image, label, vis.voc_palette(), alpha=0.5)
    assert tuple(out[0, 0]) == (114, 50, 50)   # 0.5 * 100 + 0.5 * (128, 0, 0)
    assert tuple(out[1, 1]) == (50, 114, 50)
    assert tuple(out[0, 1]) == (100, 100, 100) and tuple(out[1, 0]) == (100, 100, 100)
    out = vis.overlay(image, label, vis.voc_palette(), alpha=0.25, skip=())
    assert tuple(out[0, 1]) == (75, 75, 75)    # class 0 painted black at 25 %
    with pytest.raises(ValueError, match='differ in size'):
        vis.overlay(image, label[:1], vis.voc_palette())


def test_panel_puts_image_prediction_and_truth_side_by_side():
    image = np.full((3, 2, 3), 7, np.uint8)
    pred, gt = np.ones((3, 2), int), np.full((3, 2), 2)
    out = vis.panel(image, pred, vis.voc_palette(), gt, gap=1)
    assert out.shape == (3, 2 + 1 + 2 + 1 + 2, 3)
    assert np.all(out[:, :2] == 7) and np.all(out[:, 2] == 255)
    assert np.all(out[:, 3:5] == (128, 0, 0)) and np.all(out[:, 6:] == (0, 128, 0))
    assert vis.panel(image, pred, vis.voc_palette(), gap=1).shape == (3, 5, 3)
    with pytest.raises(ValueError, match='differ in size'):
        vis.panel(image, pred[:2], vis.voc_palette())
