"""Caffe's DataTransformer (TransformationParameter): crop, mirror, mean and scale
applied on the host to one CHW image (a Datum's or a decoded picture's).

Random choices (mirror, the TRAIN-phase crop) draw from torch's generator, which
``set_random_seed`` seeds; the crop is centred in TEST as in Caffe.
"""
import numpy as np
import torch

from ..proto import caffe_pb2


def rand(n):
    """A uniform integer in [0, n) from torch's generator (Caffe's Rand)."""
    return int(torch.randint(n, (1,)).item())


def read_mean_file(layer, filename):
    """The mean of a binaryproto file as a (C, H, W) float32 array."""
    mean = layer.read_blobproto('mean_file', filename)
    shape = (1,) * max(0, 3 - mean.ndim) + mean.shape[-3:]  # Caffe's channels/height/width
    return mean.reshape(shape)


class Transformer:
    """Applies a layer's TransformationParameter in phase ``phase``."""

    def __init__(self, layer, param, phase):
        self.layer, self.param, self.phase = layer, param, phase
        if param.HasField('mean_file') and len(param.mean_value):
            raise layer.error('transform_param: give mean_file or mean_value, not both')
        self.mean = read_mean_file(layer, param.mean_file) if param.HasField('mean_file') else None
        self.mean_values = np.array(param.mean_value, np.float32)

    def shape(self, channels, height, width):
        """The transformed shape of a (channels, height, width) image (InferBlobShape)."""
        crop = self.param.crop_size
        if crop and (height < crop or width < crop):
            raise self.layer.error('transform_param: crop_size %d exceeds the %dx%d input'
                                   % (crop, height, width))
        return (channels, crop, crop) if crop else (channels, height, width)

    def __call__(self, img):
        """The transformed float32 (C, h, w) array of the (C, H, W) image ``img``."""
        p = self.param
        c, h, w = img.shape
        mirror = p.mirror and rand(2) == 1
        crop_h, crop_w = self.shape(c, h, w)[1:]
        if p.crop_size and self.phase == caffe_pb2.TRAIN:
            y, x = rand(h - crop_h + 1), rand(w - crop_w + 1)
        else:
            y, x = (h - crop_h) // 2, (w - crop_w) // 2
        out = img[:, y:y + crop_h, x:x + crop_w].astype(np.float32)
        if self.mean is not None:
            if self.mean.shape != (c, h, w):
                raise self.layer.error('transform_param: mean_file of shape %s for %s input'
                                       % (self.mean.shape, (c, h, w)))
            out -= self.mean[:, y:y + crop_h, x:x + crop_w]
        elif len(self.mean_values):
            if len(self.mean_values) not in (1, c):
                raise self.layer.error('transform_param: give 1 mean_value or %d (one per channel), '
                                       'got %d' % (c, len(self.mean_values)))
            out -= np.broadcast_to(self.mean_values, (c,))[:, None, None]
        if p.scale != 1:
            out *= np.float32(p.scale)
        return out[:, :, ::-1] if mirror else out
