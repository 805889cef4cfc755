"""What reference pycaffe's ``caffe.io`` takes from scikit-image, which is not installed:
a stand-in built from scipy alone, so the reference's own resize_image, Transformer,
Classifier and Detector run.

``resize`` is scikit-image 0.18's (Debian bullseye, beside Debian's caffe) for
``mode='constant'`` and orders 0 and 1: a Gaussian anti-aliasing blur of sigma
(factor - 1) / 2 on shrunk axes, then pixel-centre resampling with zeros outside,
clipped to the blurred range. Here the resampling is scipy's ``zoom`` on the pixel grid,
independent of torchcaffe.resize's weight matrices.
"""
import numpy as np
from PIL import Image
from scipy import ndimage


def resize(image, output_shape, order=1, mode='constant'):
    assert mode == 'constant' and order in (0, 1), (mode, order)
    output_shape = tuple(output_shape) + image.shape[len(output_shape):]
    factors = np.array(image.shape, dtype=float) / np.array(output_shape)
    image = ndimage.gaussian_filter(image, np.maximum(0, (factors - 1) / 2), mode='constant')
    out = ndimage.zoom(image.astype(np.float64), 1 / factors, order=order,
                       mode='grid-constant', grid_mode=True)
    assert out.shape == output_shape, (out.shape, output_shape)
    return out if order == 0 else np.clip(out, image.min(), image.max())


def load_rgb(filename, color=True):
    """pycaffe's load_image for 8-bit RGB files: float32 in [0, 1]."""
    assert color
    return (np.asarray(Image.open(filename).convert("RGB")) / 255.0).astype(np.float32)


def install(pycaffe, monkeypatch):
    """Give the reference's caffe.io what its failed scikit-image import left out."""
    monkeypatch.setattr(pycaffe.io, 'resize', resize, raising=False)
    monkeypatch.setattr(pycaffe.io, 'zoom', ndimage.zoom, raising=False)
    monkeypatch.setattr(pycaffe.io, 'load_image', load_rgb)
