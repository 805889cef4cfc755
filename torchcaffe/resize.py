"""Image resampling as pycaffe's ``caffe.io.resize_image`` does it with scikit-image.

pycaffe calls ``skimage.transform.resize(im, dims, order, mode='constant')`` on images
scaled to [0, 1]. With the scikit-image beside Debian's caffe package (0.18, bullseye)
that first blurs axes being shrunk by a factor f with a Gaussian of sigma (f - 1) / 2
(anti-aliasing; zeros outside the image), then maps output pixel centres onto the input
(``x_in = (x_out + 0.5) * in / out - 0.5``), reads pixels outside the image as 0 and
clips the result to the blurred image's range. Orders 0 (nearest, ties away from zero),
1 (bilinear) and 3 (Catmull-Rom) are separable, so each axis is one weight matrix;
other orders are scipy's splines (``map_coordinates``, mode 'constant'), as there.
scikit-image computes float32 images in float32; this computes in float64.
"""
import numpy as np


def resample_unit(im, new_dims, order=1):
    """``im`` (H x W [x K], values in [0, 1]) resized to ``new_dims``, as float64."""
    from scipy.ndimage import gaussian_filter
    new_dims = tuple(int(d) for d in new_dims[:2])
    factors = np.array(im.shape, dtype=float) / np.array(new_dims + im.shape[2:])
    im = gaussian_filter(im, np.maximum(0, (factors - 1) / 2), mode='constant')
    low, high = im.min(), im.max()
    im = np.asarray(im, dtype=np.float64)
    if order in _KERNELS:
        rows = _weights(im.shape[0], new_dims[0], order)
        cols = _weights(im.shape[1], new_dims[1], order)
        out = np.tensordot(rows, im, axes=(1, 0))  # (h, W, ...)
        out = np.moveaxis(np.tensordot(cols, out, axes=(1, 1)), 0, 1)  # (h, w, ...)
    else:
        out = _spline(im, new_dims, order)
    return out if order == 0 else np.clip(out, low, high)


def _positions(n_in, n_out):
    """Where each output pixel's centre falls on the input axis."""
    return (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5


def _nearest(x):
    """Tap offsets and weights of nearest-neighbour sampling at ``x``."""
    tap = np.where(x > 0, np.floor(x + 0.5), np.ceil(x - 0.5))  # round half away from 0
    return tap[:, None], np.ones((len(x), 1))


def _linear(x):
    """Taps and weights of linear interpolation at ``x``."""
    base = np.floor(x)
    t = (x - base)[:, None]
    return base[:, None] + np.arange(2), np.hstack([1 - t, t])


def _cubic(x):
    """Taps and weights of Catmull-Rom (Keys, a = -0.5) cubic convolution at ``x``."""
    base = np.floor(x)
    t = (x - base)[:, None]
    w = np.hstack([(-t + 2 * t ** 2 - t ** 3) / 2, 1 + (-5 * t ** 2 + 3 * t ** 3) / 2,
                   (t + 4 * t ** 2 - 3 * t ** 3) / 2, (t ** 3 - t ** 2) / 2])
    return base[:, None] + np.arange(-1, 3), w


_KERNELS = {0: _nearest, 1: _linear, 3: _cubic}


def _weights(n_in, n_out, order):
    """(n_out, n_in) matrix resampling one axis; taps outside the input read 0."""
    taps, w = _KERNELS[order](_positions(n_in, n_out))
    inside = (taps >= 0) & (taps < n_in)
    out = np.zeros((n_out, n_in))
    rows = np.broadcast_to(np.arange(n_out)[:, None], taps.shape)
    np.add.at(out, (rows[inside], taps[inside].astype(np.intp)), w[inside])
    return out


def _spline(im, new_dims, order):
    """Spline interpolation of order ``order`` (scipy), zero outside the image."""
    from scipy.ndimage import map_coordinates
    if not 0 <= order <= 5:
        raise ValueError('interp_order must be 0 to 5, got %r' % (order,))
    grid = np.meshgrid(_positions(im.shape[0], new_dims[0]),
                       _positions(im.shape[1], new_dims[1]), indexing='ij')
    planes = im.reshape(im.shape[:2] + (-1,))
    out = [map_coordinates(planes[..., k], grid, order=order, mode='constant')
           for k in range(planes.shape[-1])]
    return np.stack(out, axis=-1).reshape(new_dims + im.shape[2:])
