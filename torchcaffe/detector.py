"""pycaffe's Detector: a Net classifying windows of images, R-CNN style.

See Girshick et al., "Rich feature hierarchies for accurate object detection and
semantic segmentation" (arXiv:1311.2524) for the context padding.
"""
import numpy as np

from . import io
from .classifier import configure_transformer
from .engine.net import Net
from .proto.caffe_pb2 import TEST


class Detector(Net):
    """A TEST-phase Net classifying windows (ymin, xmin, ymax, xmax) of images.

    ``mean``, ``input_scale``, ``raw_scale`` and ``channel_swap`` configure
    ``self.transformer``; ``context_pad`` pixels of each input border are context
    around the window, padded with the mean where the context leaves the image.
    """

    def __init__(self, model_file, pretrained_file, mean=None, input_scale=None,
                 raw_scale=None, channel_swap=None, context_pad=None):
        Net.__init__(self, model_file, TEST, weights=pretrained_file)
        self.transformer = configure_transformer(self, mean, input_scale, raw_scale,
                                                 channel_swap)
        self.configure_crop(context_pad)

    def detect_windows(self, images_windows):
        """Predictions for (image filename, windows) pairs: a list of dicts with
        'window', 'prediction' and 'filename', one per window, in order."""
        images_windows = list(images_windows)  # walked twice
        crops = []
        for filename, windows in images_windows:
            image = io.load_image(filename).astype(np.float32)
            crops.extend(self.crop(image, window) for window in windows)
        in_ = self.inputs[0]
        caffe_in = np.zeros((len(crops), crops[0].shape[2]) + self.blobs[in_].data.shape[2:],
                            dtype=np.float32)
        for ix, crop in enumerate(crops):
            caffe_in[ix] = self.transformer.preprocess(in_, crop)
        predictions = iter(self.forward_all(**{in_: caffe_in})[self.outputs[0]])
        return [{'window': window, 'prediction': next(predictions), 'filename': filename}
                for filename, windows in images_windows for window in windows]

    def detect_selective_search(self, image_fnames):
        """Would detect over Selective Search proposals; their MATLAB code is not available."""
        raise NotImplementedError(
            'detect_selective_search needs the selective_search_ijcv_with_python package '
            '(MATLAB), which torchcaffe does not provide: compute the windows elsewhere '
            'and call detect_windows([(filename, windows), ...])')

    def crop(self, im, window):
        """The window (ymin, xmin, ymax, xmax) of the H x W x K image ``im``; with context
        padding, an input-sized crop of the window and its surrounding context."""
        if not self.context_pad:
            return im[window[0]:window[2], window[1]:window[3]]
        crop_size = self.blobs[self.inputs[0]].width  # square inputs assumed, as pycaffe
        box, pad_y, pad_x, crop_h, crop_w = self._context_box(im.shape[:2], window, crop_size)
        y0, x0, y1, x1 = (int(b) for b in box)
        context = io.resize_image(im[y0:y1, x0:x1], (crop_h, crop_w))
        crop = np.ones(self.crop_dims, dtype=np.float32) * self.crop_mean
        crop[pad_y:pad_y + crop_h, pad_x:pad_x + crop_w] = context
        return crop

    def _context_box(self, im_dims, window, crop_size):
        """The window grown by the context, clipped to the image; where it goes in the
        crop (pad_y, pad_x) and at what size (crop_h, crop_w). Boxes count both ends."""
        box = np.array(window, dtype=np.float64)
        scale = crop_size / (1. * crop_size - self.context_pad * 2)
        half_h, half_w = (box[2] - box[0] + 1) / 2., (box[3] - box[1] + 1) / 2.
        centre = (box[0] + half_h, box[1] + half_w)
        box = np.round(np.tile(centre, 2) + scale * np.array((-half_h, -half_w, half_h, half_w)))
        scale_h = crop_size / (box[2] - box[0] + 1)
        scale_w = crop_size / (box[3] - box[1] + 1)
        pad_y = round(max(0, -box[0]) * scale_h)  # how much of the box is out of the image
        pad_x = round(max(0, -box[1]) * scale_w)
        im_h, im_w = im_dims
        box = np.clip(box, 0., [im_h, im_w, im_h, im_w])
        clip_h, clip_w = box[2] - box[0] + 1, box[3] - box[1] + 1
        if not (clip_h > 0 and clip_w > 0):
            raise ValueError('window %s lies outside the %dx%d image' % (window, im_h, im_w))
        crop_h = min(round(clip_h * scale_h), crop_size - pad_y)
        crop_w = min(round(clip_w * scale_w), crop_size - pad_x)
        return box, int(pad_y), int(pad_x), int(crop_h), int(crop_w)

    def configure_crop(self, context_pad):
        """Set ``crop_dims`` (the input as H x W x K) and ``context_pad``; with context,
        ``crop_mean``: the mean in the image's space, filling context off the image."""
        in_ = self.inputs[0]
        transpose = self.transformer.transpose[in_]
        inverse = [transpose[t] for t in transpose]  # pycaffe's inverse, right for (2, 0, 1)
        self.crop_dims = np.array(self.blobs[in_].data.shape[1:])[inverse]
        self.context_pad = context_pad
        if not context_pad:
            return
        mean = self.transformer.mean.get(in_)
        if mean is None:
            self.crop_mean = np.zeros(self.crop_dims, dtype=np.float32)
            return
        crop_mean = mean.copy().transpose(inverse)
        channel_order = self.transformer.channel_swap.get(in_)
        if channel_order is not None:
            crop_mean = crop_mean[:, :, [list(channel_order).index(i)
                                         for i in range(crop_mean.shape[2])]]
        raw_scale = self.transformer.raw_scale.get(in_)
        if raw_scale is not None:
            crop_mean /= raw_scale
        self.crop_mean = crop_mean
