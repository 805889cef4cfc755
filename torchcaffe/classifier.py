"""pycaffe's Classifier: a Net that classifies images, whole or as 10 averaged crops."""
import numpy as np

from . import io
from .engine.net import Net
from .proto.caffe_pb2 import TEST


def configure_transformer(net, mean, input_scale, raw_scale, channel_swap):
    """A Transformer for the net's first input, taking H x W x K images (pycaffe's setup)."""
    in_ = net.inputs[0]
    transformer = io.Transformer({in_: net.blobs[in_].data.shape})
    transformer.set_transpose(in_, (2, 0, 1))
    if mean is not None:
        transformer.set_mean(in_, mean)
    if input_scale is not None:
        transformer.set_input_scale(in_, input_scale)
    if raw_scale is not None:
        transformer.set_raw_scale(in_, raw_scale)
    if channel_swap is not None:
        transformer.set_channel_swap(in_, channel_swap)
    return transformer


class Classifier(Net):
    """A TEST-phase Net predicting class probabilities of H x W x K images.

    Images are resized to ``image_dims`` (default: the input's H x W), then cropped to
    the input's size; ``mean``, ``input_scale``, ``raw_scale`` and ``channel_swap``
    configure ``self.transformer``.
    """

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None,
                 input_scale=None, raw_scale=None, channel_swap=None):
        Net.__init__(self, model_file, TEST, weights=pretrained_file)
        self.transformer = configure_transformer(self, mean, input_scale, raw_scale,
                                                 channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].data.shape[2:])
        no_dims = image_dims is None or not len(image_dims)
        self.image_dims = self.crop_dims if no_dims else image_dims

    def predict(self, inputs, oversample=True):
        """(N x C) predictions of the first output for N images: the mean over the 4
        corner and centre crops and their mirrors, or the centre crop's alone."""
        images = np.zeros((len(inputs), self.image_dims[0], self.image_dims[1],
                           inputs[0].shape[2]), dtype=np.float32)
        for ix, image in enumerate(inputs):
            images[ix] = io.resize_image(image, self.image_dims)
        if oversample:
            crops = io.oversample(images, self.crop_dims)
        else:
            crops = images[:, self._centre[0]:self._centre[2], self._centre[1]:self._centre[3], :]
        in_ = self.inputs[0]
        caffe_in = np.zeros(np.array(crops.shape)[[0, 3, 1, 2]], dtype=np.float32)
        for ix, crop in enumerate(crops):
            caffe_in[ix] = self.transformer.preprocess(in_, crop)
        predictions = self.forward_all(**{in_: caffe_in})[self.outputs[0]]
        if oversample:
            predictions = predictions.reshape((len(predictions) // 10, 10, -1)).mean(1)
        return predictions

    @property
    def _centre(self):
        """(y0, x0, y1, x1) of the centre crop of an ``image_dims`` image, truncated."""
        centre = np.tile(np.array(self.image_dims) / 2.0, 2)
        return (centre + np.concatenate([-self.crop_dims / 2.0, self.crop_dims / 2.0])).astype(int)
