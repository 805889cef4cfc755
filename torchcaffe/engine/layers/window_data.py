"""WindowData (R-CNN): each batch samples background then foreground windows of the
pictures a window file lists, warps each (with context padding, optionally made
square) to crop_size x crop_size, mirrors at random, subtracts the mean and scales.

Window file: repeated blocks ``# image_index`` / path / channels / height / width /
number of windows / one ``class overlap x1 y1 x2 y2`` line per window. A window with
overlap >= fg_threshold is foreground, < bg_threshold background (label 0)."""
import math

import numpy as np
import torch

from ..images import COLOR, imread, resize
from ..layer import register
from ..transformer import read_mean_file
from .base_data import BaseData

_F = np.float32  # Caffe computes the window geometry in float


def _round(x):
    """C's round: halves away from zero."""
    return int(math.copysign(math.floor(abs(float(x)) + 0.5), x))


def _rand():
    """A 32-bit unsigned random integer (Caffe's PrefetchRand)."""
    return int(torch.randint(1 << 32, (1,), dtype=torch.int64).item())


@register('WindowData')
class WindowData(BaseData):
    exact_tops = 2

    def data_setup(self, top):
        p, t = self.param.window_data_param, self.param.transform_param
        self.images, self.fg, self.bg, channels = self._read_windows(p)
        if t.crop_size <= 0:
            raise self.error('WindowData needs transform_param.crop_size')
        if p.cache_images:
            self.cache = {}
        self.mean = read_mean_file(self, t.mean_file) if t.HasField('mean_file') else None
        self.mean_values = None
        if len(t.mean_value):
            if self.mean is not None:
                raise self.error('transform_param: give mean_file or mean_value, not both')
            if len(t.mean_value) not in (1, channels):
                raise self.error('transform_param: give 1 mean_value or %d (one per channel), got %d'
                                 % (channels, len(t.mean_value)))
            self.mean_values = np.broadcast_to(np.array(t.mean_value, _F), (channels,))
        self.channels = channels
        top[0].reshape((p.batch_size, channels, t.crop_size, t.crop_size))
        top[1].reshape((p.batch_size,))

    def _read_windows(self, p):
        """(image paths, foreground windows, background windows, channels of the last image)."""
        try:
            with open(p.source) as f:
                tokens = f.read().split()
        except OSError as e:
            raise self.error("cannot read window_data_param.source '%s': %s" % (p.source, e.strerror)) from None
        images, fg, bg, channels, i = [], [], [], 0, 0
        try:
            while i + 1 < len(tokens):
                if tokens[i] != '#':
                    raise ValueError("expected '#', got '%s'" % tokens[i])
                index = int(tokens[i + 1])
                images.append(p.root_folder + tokens[i + 2])
                channels, n = int(tokens[i + 3]), int(tokens[i + 6])
                i += 7
                for _ in range(n):
                    label, overlap = int(tokens[i]), float(tokens[i + 1])
                    box = [int(v) for v in tokens[i + 2:i + 6]]
                    i += 6
                    if overlap >= p.fg_threshold:
                        if label <= 0:
                            raise ValueError('foreground window with label %d' % label)
                        fg.append((index, label, box))
                    elif overlap < p.bg_threshold:
                        bg.append((index, 0, box))
        except (ValueError, IndexError) as e:
            raise self.error("window file '%s': %s" % (p.source, e or 'truncated')) from None
        if not images:
            raise self.error("window file '%s' lists no image" % p.source)
        return images, fg, bg, channels

    def _image(self, index):
        """Picture ``index`` of the window file, HxWx3 BGR."""
        path = self.images[index]
        if hasattr(self, 'cache'):
            if index not in self.cache:
                self.cache[index] = imread(path, COLOR)
            return self.cache[index]
        return imread(path, COLOR)

    def load_batch(self):
        p, t = self.param.window_data_param, self.param.transform_param
        if not self.fg or not self.bg:
            raise self.error('WindowData needs foreground and background windows (%d and %d)'
                             % (len(self.fg), len(self.bg)))
        n, crop = p.batch_size, t.crop_size
        num_fg = int(_F(n) * _F(p.fg_fraction))
        items, labels = [], []
        for windows, count in ((self.bg, n - num_fg), (self.fg, num_fg)):
            for _ in range(count):
                index, label, box = windows[_rand() % len(windows)]
                mirror = t.mirror and _rand() % 2 == 1
                items.append(self._warp(self._image(index), box, mirror))
                labels.append(label)
        data = np.zeros((n, self.channels, crop, crop), _F)
        for i, (patch, top, left) in enumerate(items):
            data[i, :, top:top + patch.shape[1], left:left + patch.shape[2]] = self._normalize(patch, top, left)
        return data, np.array(labels, _F)

    def _warp(self, img, box, mirror):
        """(the window warped to its place in the crop, CxHxW uint8; its top and left offsets)."""
        p, crop = self.param.window_data_param, self.param.transform_param.crop_size
        x1, y1, x2, y2 = box
        size_h = size_w = crop
        pad_h = pad_w = 0
        if p.context_pad > 0 or p.crop_mode == 'square':
            context = _F(crop) / _F(crop - 2 * p.context_pad)
            half_h, half_w = _F((y2 - y1 + 1) / 2.0), _F((x2 - x1 + 1) / 2.0)
            cx, cy = _F(x1) + half_w, _F(y1) + half_h
            if p.crop_mode == 'square':
                half_h = half_w = max(half_h, half_w)
            x1, x2 = _round(cx - half_w * context), _round(cx + half_w * context)
            y1, y2 = _round(cy - half_h * context), _round(cy + half_h * context)
            height, width = y2 - y1 + 1, x2 - x1 + 1
            rows, cols = img.shape[:2]
            px1, py1 = max(0, -x1), max(0, -y1)
            px2, py2 = max(0, x2 - cols + 1), max(0, y2 - rows + 1)
            x1, x2, y1, y2 = x1 + px1, x2 - px2, y1 + py1, y2 - py2
            sx, sy = _F(crop) / _F(width), _F(crop) / _F(height)
            size_w, size_h = _round(_F(x2 - x1 + 1) * sx), _round(_F(y2 - y1 + 1) * sy)
            pad_h = _round(_F(py1) * sy)
            pad_w = _round(_F(px2) * sx) if mirror else _round(_F(px1) * sx)
            size_h, size_w = min(size_h, crop - pad_h), min(size_w, crop - pad_w)  # rounding may overflow
        patch = resize(img[y1:y2 + 1, x1:x2 + 1], size_h, size_w)
        if mirror:
            patch = patch[:, ::-1]
        return patch.transpose(2, 0, 1), pad_h, pad_w

    def _normalize(self, patch, top, left):
        """(pixel - mean) * window_data_param.scale, the mean file read centred on the crop."""
        out = patch.astype(_F)
        c, h, w = out.shape
        if self.mean is not None:
            off = (self.mean.shape[2] - self.param.transform_param.crop_size) // 2
            out -= self.mean[:c, off + top:off + top + h, off + left:off + left + w]
        elif self.mean_values is not None:
            out -= self.mean_values[:, None, None]
        return out * _F(self.param.window_data_param.scale)
