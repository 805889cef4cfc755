"""pycaffe's ``caffe.io``: blobs of Caffe's files as numpy arrays (what weights,
solverstates and mean files need), Datums, and image loading and preprocessing
(Pillow and numpy in place of scikit-image). Importing it needs no torch.

Speed matters: VGG16's caffemodel holds 138M floats. Reading uses protobuf's native
``__array__`` of repeated fields (a memcpy: 0.08 s per 100M floats with protobuf 7
upb; older protobufs iterate per element, ~6 s). Writing hands protobuf the packed
field's bytes in one piece (0.5 s per 100M floats; ``blob.data.extend`` takes 5-18 s).
"""
import math

import numpy as np

from .errors import FormatError
from .proto import caffe_pb2

_LEGACY_DIMS = ('num', 'channels', 'height', 'width')
_DATA_TAG = b'\x2a'  # BlobProto.data: field 5, length-delimited (packed floats)
_DIFF_TAG = b'\x32'  # BlobProto.diff: field 6


def is_legacy(blob):
    """Whether ``blob`` gives its shape by the old num/channels/height/width fields.

    Caffe's rule (Blob::FromProto): any of the four present wins over ``shape``.
    """
    return any(blob.HasField(d) for d in _LEGACY_DIMS)


def blob_shape(blob):
    """The shape stored in ``blob``: N-d ``shape``, or legacy (num, channels, height, width).

    Legacy shapes are 4-d as written: an old InnerProduct weight is (1, 1, M, N).
    """
    if is_legacy(blob):
        return tuple(getattr(blob, d) for d in _LEGACY_DIMS)
    return tuple(blob.shape.dim)


def shape_equals(blob, shape):
    """Whether ``blob`` fits a param of ``shape``, by Caffe's Blob::ShapeEquals.

    A legacy blob is compared right-aligned, missing leading axes counting as 1, so
    1x1xMxN fits (M, N) and 1x1x1xN fits (N,); an N-d ``shape`` must match exactly.
    """
    shape = tuple(shape)
    if is_legacy(blob):
        return len(shape) <= 4 and (1,) * (4 - len(shape)) + shape == blob_shape(blob)
    return shape == blob_shape(blob)


def blobproto_to_array(blob, return_diff=False):
    """The blob's data (or diff) as a new float32 array of ``blob_shape(blob)``.

    ``double_data``/``double_diff`` are used when present, as Caffe does.
    Raises FormatError when the number of values does not match the shape.
    """
    if return_diff:
        values = blob.double_diff if len(blob.double_diff) else blob.diff
    else:
        values = blob.double_data if len(blob.double_data) else blob.data
    shape = blob_shape(blob)
    if len(values) != math.prod(shape):
        raise FormatError('blob of shape %s holds %d %s values, expected %d'
                          % (shape, len(values), 'diff' if return_diff else 'data',
                             math.prod(shape)))
    return np.array(values, dtype=np.float32).reshape(shape)


def array_to_blobproto(arr, diff=None):
    """A BlobProto holding ``arr`` (and ``diff``) as float32, with an N-d ``shape``."""
    arr = np.asarray(arr)
    pieces = _packed_floats(_DATA_TAG, arr)
    if diff is not None:
        diff = np.asarray(diff)
        if diff.size != arr.size:
            raise ValueError('diff has %d values, data %d' % (diff.size, arr.size))
        pieces += _packed_floats(_DIFF_TAG, diff)
    blob = caffe_pb2.BlobProto.FromString(b''.join(pieces))
    blob.shape.SetInParent()  # a 0-d array still gets a (dimensionless) shape, as in Caffe
    blob.shape.dim.extend(arr.shape)
    return blob


def _packed_floats(tag, arr):
    """Wire pieces of a packed repeated float field holding ``arr``: header, then values."""
    values = np.ascontiguousarray(arr, dtype='<f4').reshape(-1)
    return [tag + _varint(values.nbytes), values]


def _varint(n):
    """Protobuf's base-128 varint encoding of ``n`` >= 0."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7f | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# -- lists of blobs, and Datums (pycaffe's caffe.io) -------------------------------

def arraylist_to_blobprotovector_str(arraylist):
    """A serialized BlobProtoVector holding each array of ``arraylist``."""
    vec = caffe_pb2.BlobProtoVector()
    vec.blobs.extend(array_to_blobproto(arr) for arr in arraylist)
    return vec.SerializeToString()


def blobprotovector_str_to_arraylist(data):
    """The arrays of a serialized BlobProtoVector, in order."""
    return [blobproto_to_array(blob) for blob in caffe_pb2.BlobProtoVector.FromString(data).blobs]


def array_to_datum(arr, label=None):
    """A Datum holding the C x H x W array ``arr``: uint8 arrays as bytes, others as floats."""
    if arr.ndim != 3:
        raise ValueError('Incorrect array shape.')
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = arr.shape
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(np.asarray(arr, dtype=np.float32).ravel())
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum):
    """The Datum's values as a C x H x W array: uint8 from ``data``, else float64 as pycaffe.

    The label is not returned; it is ``datum.label``.
    """
    shape = (datum.channels, datum.height, datum.width)
    if len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(shape).copy()
    return np.array(datum.float_data, dtype=np.float64).reshape(shape)


# -- images (pycaffe's caffe.io, with Pillow and numpy in place of scikit-image) ----

def load_image(filename, color=True):
    """The image in ``filename`` as float32 in [0, 1]: H x W x 3 RGB, or H x W x 1 when
    ``color`` is False (RGB files are turned to luminance), as pycaffe loads it.

    An alpha channel is dropped, not composited.
    """
    from PIL import Image
    with Image.open(filename) as pil:
        img = _unit_float(_pil_array(pil))
    if not color and img.ndim == 3:
        img = img[:, :, :3] @ _LUMA  # scikit-image's rgb2gray weights, in float64
    img = img.astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img


_LUMA = np.array([0.2125, 0.7154, 0.0721])


def _pil_array(pil):
    """The pixels as scikit-image's Pillow reader gives them: gray, RGB or RGBA."""
    if pil.mode == '1':
        pil = pil.convert('L')
    elif pil.mode == 'P':
        pil = pil.convert('RGBA' if 'transparency' in pil.info else 'RGB')
    elif pil.mode in ('LA', 'PA', 'La', 'RGBa'):
        pil = pil.convert('RGBA')
    elif pil.mode not in ('L', 'RGB', 'RGBA', 'I', 'F') and not pil.mode.startswith('I;16'):
        pil = pil.convert('RGB')  # CMYK, YCbCr, LAB, HSV
    arr = np.array(pil)
    return arr.astype(np.uint16) if pil.mode.startswith('I;16') else arr


def _unit_float(arr):
    """scikit-image's img_as_float: integers scaled by their dtype's maximum, as float64."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float64) / np.iinfo(arr.dtype).max
    return arr.astype(np.float64)


def resize_image(im, new_dims, interp_order=1):
    """``im`` (H x W x K) resized to ``new_dims`` (height, width), as float32.

    1- and 3-channel images are scaled to [0, 1], resampled (see torchcaffe.resize) and
    scaled back; a constant image is filled with its value. Other channel counts use
    scipy's ``zoom``, as pycaffe does.
    """
    if im.shape[-1] in (1, 3):
        im_min, im_max = im.min(), im.max()
        if not im_max > im_min:  # a constant image: nothing to normalise by
            return np.full((new_dims[0], new_dims[1], im.shape[-1]), im_min, dtype=np.float32)
        from .resize import resample_unit
        im_std = (im - im_min) / (im_max - im_min)
        resized = resample_unit(im_std, new_dims, interp_order) * (im_max - im_min) + im_min
    else:
        from scipy.ndimage import zoom
        scale = tuple(np.array(new_dims, dtype=float) / np.array(im.shape[:2]))
        resized = zoom(im, scale + (1,), order=interp_order)
    return resized.astype(np.float32)


def oversample(images, crop_dims):
    """The 4 corner crops and the centre crop of each image, then those 5 mirrored
    left-right: a (10 N) x h x w x K float32 array for ``crop_dims`` (h, w)."""
    im_shape = np.array(images[0].shape)
    crop_dims = np.array(crop_dims)
    h, w = crop_dims[:2]
    corners = [(i, j) for i in (0, im_shape[0] - h) for j in (0, im_shape[1] - w)]
    boxes = [(i, j, i + h, j + w) for i, j in corners]
    centre = np.tile(im_shape[:2] / 2.0, 2) + np.concatenate([-crop_dims / 2.0, crop_dims / 2.0])
    boxes.append(tuple(centre.astype(int)))  # truncated, as pycaffe stores it into ints
    crops = np.empty((10 * len(images), h, w, im_shape[-1]), dtype=np.float32)
    for n, im in enumerate(images):
        for k, (y0, x0, y1, x1) in enumerate(boxes):
            crops[10 * n + k] = im[y0:y1, x0:x1, :]
            crops[10 * n + 5 + k] = im[y0:y1, x0:x1, :][:, ::-1, :]
    return crops


# -- preprocessing -------------------------------------------------------------------

class Transformer:
    """Turns H x W x K images into a net's K x H x W inputs and back, as pycaffe's.

    ``inputs`` maps each input blob's name to its shape (N, K, H, W). The steps, in
    order: resize to (H, W), transpose, channel swap, raw scale, mean, input scale.
    """

    def __init__(self, inputs):
        self.inputs = inputs
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}

    def _check_input(self, in_):
        if in_ not in self.inputs:
            raise Exception('{} is not one of the net inputs: {}'.format(in_, self.inputs))

    def preprocess(self, in_, data):
        """``data`` (H' x W' x K) as a float32 input for blob ``in_``; ``data`` is unchanged."""
        self._check_input(in_)
        caffe_in = np.array(data, dtype=np.float32)
        in_dims = tuple(self.inputs[in_][2:])
        if caffe_in.shape[:2] != in_dims:
            caffe_in = resize_image(caffe_in, in_dims)
        if self.transpose.get(in_) is not None:
            caffe_in = caffe_in.transpose(self.transpose[in_])
        if self.channel_swap.get(in_) is not None:
            caffe_in = caffe_in[list(self.channel_swap[in_]), :, :]
        # in place, so the result stays float32 whatever the factors' types (as in pycaffe)
        if self.raw_scale.get(in_) is not None:
            caffe_in *= self.raw_scale[in_]
        if self.mean.get(in_) is not None:
            caffe_in -= self.mean[in_]
        if self.input_scale.get(in_) is not None:
            caffe_in *= self.input_scale[in_]
        return caffe_in

    def deprocess(self, in_, data):
        """The inverse of ``preprocess`` (but for resizing), singleton axes squeezed out."""
        self._check_input(in_)
        out = data.copy().squeeze()
        if self.input_scale.get(in_) is not None:
            out /= self.input_scale[in_]
        if self.mean.get(in_) is not None:
            out += self.mean[in_]
        if self.raw_scale.get(in_) is not None:
            out /= self.raw_scale[in_]
        if self.channel_swap.get(in_) is not None:
            out = out[np.argsort(self.channel_swap[in_]), :, :]
        if self.transpose.get(in_) is not None:
            out = out.transpose(np.argsort(self.transpose[in_]))
        return out

    def set_transpose(self, in_, order):
        """The axis order taking an image to the input, e.g. (2, 0, 1) for H x W x K."""
        self._check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise Exception('Transpose order needs to have the same number of '
                            'dimensions as the input.')
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        """The channel order after transposing, e.g. (2, 1, 0) for RGB to BGR."""
        self._check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise Exception('Channel swap needs to have the same number of '
                            'dimensions as the input channels.')
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        """The factor applied before the mean: 255 for models trained on [0, 255] pixels."""
        self._check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """The mean to subtract: one value per channel (K,), or an image (K x H x W or
        H x W), resized to the input's H x W when it differs."""
        self._check_input(in_)
        if mean.ndim == 1:
            if mean.shape[0] != self.inputs[in_][1]:
                raise ValueError('Mean channels incompatible with input.')
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            shape = (1,) + mean.shape if mean.ndim == 2 else mean.shape
            if len(shape) != 3:
                raise ValueError('Mean shape invalid')
            if shape != tuple(self.inputs[in_][1:]):
                mean = self._resized_mean(mean.reshape(shape), self.inputs[in_][2:])
        self.mean[in_] = mean

    @staticmethod
    def _resized_mean(mean, dims):
        """A K x H x W mean resized to ``dims``, through [0, 1] as pycaffe does."""
        m_min, m_max = mean.min(), mean.max()
        normal = (mean - m_min) / (m_max - m_min) if m_max > m_min else mean - m_min
        resized = resize_image(normal.transpose((1, 2, 0)), dims).transpose((2, 0, 1))
        return resized * (m_max - m_min) + m_min

    def set_input_scale(self, in_, scale):
        """The factor applied last, after the mean is subtracted."""
        self._check_input(in_)
        self.input_scale[in_] = scale
