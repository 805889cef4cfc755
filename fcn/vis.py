"""Label maps as pictures: palettes, colored labels, overlays, palette PNGs, report panels.

Label PNGs are written in palette mode ("P"): viewers show the colors while
``read_label`` (or any PNG reader) gets the class indices back, as with the
ground truth of PASCAL VOC.
"""
import numpy as np
from PIL import Image

from fcn.datasets import VOID


def make_palette(n):
    """RGB colors (n x 3, uint8) for classes 0..n-1 by PASCAL VOC's bit interleaving.

    Bits 0, 1, 2 of the class index set the top bits of R, G and B, bits 3, 4, 5
    the next ones, and so on, so that neighboring classes get distant colors.
    It serves any number of classes (NYUD 40, SIFT Flow 33, PASCAL-Context 60);
    the first 21 colors are VOC's.
    """
    labels = np.arange(n)
    palette = np.zeros((n, 3), np.uint8)
    for level in range(8):  # 8 levels x 3 channels: 24 bits of class index
        for channel in range(3):
            bit = (labels >> (3 * level + channel)) & 1
            palette[:, channel] |= (bit << (7 - level)).astype(np.uint8)
    return palette


def voc_palette():
    """PASCAL VOC's 256-entry palette, the one its label PNGs embed: 255 (void) is (224, 224, 192)."""
    return make_palette(256)


def get_palette(spec):
    """The palette named on a command line: 'voc' or a number of classes."""
    if str(spec).lower() == 'voc':
        return voc_palette()
    try:
        n = int(spec)
    except ValueError:
        raise ValueError("palette must be 'voc' or a number of classes, not %r" % (spec,)) from None
    if not 1 <= n <= 256:
        raise ValueError('palette: %d classes do not fit a PNG palette (1 to 256)' % n)
    return make_palette(n)


def _lookup(palette):
    """``palette`` as a 256-color table; unlisted labels are black but void keeps VOC's color."""
    palette = np.asarray(palette, np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) > 256:
        raise ValueError('a palette is a K x 3 array of RGB colors with K <= 256, not %s'
                         % (palette.shape,))
    table = np.zeros((256, 3), np.uint8)
    table[VOID] = voc_palette()[VOID]
    table[:len(palette)] = palette
    return table


def _check_labels(label):
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError('a label map is H x W, not %s' % (label.shape,))
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError('labels must lie in 0..255 to be drawn or stored in a PNG palette, '
                         'found %s..%s' % (label.min(), label.max()))
    return label.astype(np.uint8)


def color_label(label, palette):
    """The H x W label map as an H x W x 3 RGB image."""
    return _lookup(palette)[_check_labels(label)]


def overlay(image, label, palette, alpha=0.5, skip=(0, VOID)):
    """Blend the label colors into ``image`` (H x W x 3, 0-255) with opacity ``alpha``.

    Pixels labeled with a class in ``skip`` (by default VOC's background and void)
    show the image alone.
    """
    image = np.asarray(image)
    if image.shape != np.shape(label) + (3,):
        raise ValueError('image %s and label map %s differ in size' % (image.shape, np.shape(label)))
    out = image.astype(np.float32)
    colors = color_label(label, palette).astype(np.float32)
    mask = ~np.isin(label, skip)
    out[mask] = (1 - alpha) * out[mask] + alpha * colors[mask]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def save_label(path, label, palette=None):
    """Write the label map as a palette-mode PNG (default palette: VOC's)."""
    im = Image.fromarray(_check_labels(label))
    im.putpalette(  # makes the grayscale image a palette image
        _lookup(voc_palette() if palette is None else palette).ravel().tolist())
    im.save(path)


def read_label(path):
    """The class indices stored in a palette-mode (or grayscale) label PNG."""
    with Image.open(path) as im:
        if im.mode not in ('P', 'L'):
            raise ValueError('%s: a label PNG has palette or grayscale pixels, not %s' % (path, im.mode))
        return np.array(im)


def panel(image, pred, palette, gt=None, gap=4):
    """Side by side, for reports: image | prediction | ground truth (if given), on white."""
    pictures = [np.asarray(image, np.uint8), color_label(pred, palette)]
    if gt is not None:
        pictures.append(color_label(gt, palette))
    sizes = {p.shape[:2] for p in pictures}
    if len(sizes) > 1:
        raise ValueError('panel pictures differ in size: %s' % sorted(sizes))
    white = np.full((pictures[0].shape[0], gap, 3), 255, np.uint8)
    pieces = [pictures[0]]
    for picture in pictures[1:]:
        pieces += [white, picture]
    return np.concatenate(pieces, axis=1)
