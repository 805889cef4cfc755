"""Pictures read as Caffe reads them with OpenCV: 8-bit, BGR channel order, and
resized with bilinear interpolation (cv::resize INTER_LINEAR: pixel centres
aligned, no antialiasing; OpenCV's fixed-point arithmetic may round a value
one level apart). Grayscale is made as OpenCV's decoders make it."""
import io

import numpy as np
import torch
from PIL import Image

COLOR, GRAY, UNCHANGED = 'color', 'gray', 'unchanged'  # cv::imread's flags


def _gray(img):
    """The picture in one channel as OpenCV's decoders make it: libjpeg's luma, libpng's
    truncating weights for a colour PNG, else cvtColor's rounded weights."""
    if img.mode in ('L', 'I;16', 'I;16B', 'I', 'F'):
        return np.asarray(img.convert('L'))
    if img.format == 'JPEG':
        img.draft('L', img.size)  # libjpeg decodes the luma channel itself
        return np.asarray(img.convert('L'))
    rgb = np.asarray(img.convert('RGB')).astype(np.int32)
    weights, shift, half = ((9797, 19234, 3737), 15, 0) if img.format == 'PNG' else ((4899, 9617, 1868), 14, 1 << 13)
    gray = (rgb * np.array(weights, np.int32)).sum(2) + half
    return (gray >> shift).astype(np.uint8)


def _to_bgr(img, mode):
    """An HxWxC uint8 array of the PIL image ``img`` in OpenCV's channel order."""
    if img.mode in ('I;16', 'I;16B', 'I', 'F') and mode == UNCHANGED:
        raise ValueError('only 8-bit images are supported, got PIL mode %s' % img.mode)
    if mode == GRAY:
        return _gray(img)[:, :, None]
    if mode == UNCHANGED and img.mode == 'L':
        return np.asarray(img)[:, :, None]
    if mode == UNCHANGED and img.mode in ('RGBA', 'LA', 'PA') or \
            (img.mode == 'P' and mode == UNCHANGED and 'transparency' in img.info):
        return np.asarray(img.convert('RGBA'))[:, :, [2, 1, 0, 3]]
    return np.asarray(img.convert('RGB'))[:, :, ::-1]


def decode(data, mode=COLOR):
    """The picture in bytes ``data`` as an HxWxC uint8 BGR array (cv::imdecode)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.ascontiguousarray(_to_bgr(img, mode))


def imread(path, mode=COLOR):
    """The picture file ``path`` as an HxWxC uint8 BGR array (cv::imread)."""
    with Image.open(path) as img:
        return np.ascontiguousarray(_to_bgr(img, mode))


def resize(img, height, width):
    """The HxWxC uint8 ``img`` resized to ``height`` x ``width`` like INTER_LINEAR."""
    if img.shape[:2] == (height, width):
        return img.copy()
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
    out = torch.nn.functional.interpolate(t, size=(height, width), mode='bilinear',
                                          align_corners=False, antialias=False)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def chw(img):
    """An HxWxC picture as a CxHxW array (Caffe's layout)."""
    return np.ascontiguousarray(img.transpose(2, 0, 1))
