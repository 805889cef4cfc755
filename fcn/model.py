"""A trained FCN as a Python object: ``fcn.load(...)`` and ``model.predict(image)``.

    import fcn
    model = fcn.load('voc-fcn8s/deploy.prototxt', 'voc-fcn8s/fcn8s-heavy-pascal.caffemodel')
    labels = model.predict('photo.jpg')        # H x W class indices

or ``fcn.load(RUN)`` for a run directory of ``fcn train`` (its model card, model.json,
names the deploy net, weights, mean, class names and palette). The model turns RGB
images into the net's input itself (channel order, 0-255, mean subtracted) and runs
each image at its own size: nothing is resized.
"""
import os

import numpy as np
from PIL import Image

from fcn import backend as backends
from fcn import card as cards
from fcn import vis
from fcn.datasets import VOC_MEAN, VOID


def score_blob(net, score=None):
    """The blob holding the class scores: ``score``, else the net's single output."""
    if score is not None:
        if score not in net.blobs:
            raise ValueError("the net has no blob '%s'" % score)
        return score
    if len(net.outputs) != 1:
        raise ValueError('the net has outputs %s: name the score blob' % ', '.join(net.outputs))
    return net.outputs[0]


def read_image_file(path, f):
    """``f`` of the PIL image in file ``path``; a file that is not a readable image, or one too
    large for Pillow's guard against decompression bombs, is a ValueError naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError('no image file %s' % os.fspath(path))
    try:
        with Image.open(path) as im:
            return f(im)
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError('cannot read image %s: %s' % (os.fspath(path), e)) from None


def image_size(image):
    """(H, W) of an image path, PIL image or array, reading only a file's header."""
    if isinstance(image, (str, os.PathLike)):
        return read_image_file(image, lambda im: im.size[::-1])
    if isinstance(image, Image.Image):
        return image.size[::-1]
    return np.shape(image)[:2]


def read_rgb(image):
    """An image path, PIL image or H x W x 3 array as an H x W x 3 RGB array."""
    if isinstance(image, (str, os.PathLike)):
        return read_image_file(image, lambda im: np.array(im.convert('RGB')))
    if isinstance(image, Image.Image):
        return np.array(image.convert('RGB'))
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or not np.issubdtype(array.dtype, np.number):
        raise ValueError('an image is a path, a PIL image or an H x W x 3 RGB array, not an array '
                         'of shape %s and type %s' % (array.shape, array.dtype))
    return array


def image_name(image, index):
    """A file's path, else 'image N' (its place in the list)."""
    return os.fspath(image) if isinstance(image, (str, os.PathLike)) else 'image %d' % index


def free_memory(device):
    """Bytes free for a new allocation on ``device`` ('cpu', 'cuda:N'); None where unknown."""
    if device == 'cpu':
        try:
            with open('/proc/meminfo') as f:  # Linux: MemAvailable counts what the kernel can reclaim
                fields = dict(line.split(':', 1) for line in f)
            return int(fields['MemAvailable'].split()[0]) * 1024
        except (OSError, KeyError, ValueError):
            return None
    try:
        import torch
        return torch.cuda.mem_get_info(int(device.partition(':')[2] or 0))[0]
    except (ImportError, RuntimeError):
        return None


def check_memory(net, device, shape):
    """Refuse a forward pass of input ``shape`` whose blobs (float32) would not fit in the free
    memory of ``device``: a ValueError saying what it needs, before anything is allocated."""
    need = 4 * sum(blob.count for blob in net.blobs.values())
    free = free_memory(device)
    if free is not None and need > free:
        raise ValueError('a forward pass of %d image(s) of %dx%d needs about %.1f GB for the net\'s blobs, '
                         'and %.1f GB is free (%s): use smaller images'
                         % (shape[0], shape[3], shape[2], need / 2 ** 30, free / 2 ** 30, device))


def softmax(scores):
    """Probabilities over axis 0 of K x H x W scores, in float32."""
    e = np.exp(scores - scores.max(0))
    return (e / e.sum(0)).astype(np.float32)


class Model:
    """A deploy net with what it needs to label images: mean, channel order, classes, palette.

    ``net`` is a Caffe Net (either backend) whose single input takes a 3-channel image;
    ``mean`` is in the net's ``channel_order``; ``palette`` is 'voc', a number of colors
    or a K x 3 array (default: ``vis.make_palette(K)``). Overlays leave void unpainted,
    and class 0 too where the palette is 'voc' (VOC's background). ``device`` is where the
    net runs ('cpu', 'cuda:N'): a pass whose blobs would not fit in its free memory is refused.
    """

    def __init__(self, net, mean=VOC_MEAN, classes=None, palette=None, score=None,
                 channel_order='BGR', device='cpu'):
        if len(net.inputs) != 1:
            raise ValueError('a model needs a net with a single image input, not %d (%s)'
                             % (len(net.inputs), ', '.join(net.inputs)))
        self.input = net.inputs[0]
        shape = net.blobs[self.input].data.shape
        if len(shape) != 4 or shape[1] != 3:
            raise ValueError("input '%s' of shape %s does not take a 3-channel image (N x 3 x H x W)"
                             % (self.input, shape))
        self.score = score_blob(net, score)
        shape = net.blobs[self.score].data.shape
        if len(shape) != 4:
            raise ValueError("scores '%s' of shape %s are not N x classes x H x W" % (self.score, shape))
        k = shape[1]
        self.classes = [str(c) for c in range(k)] if classes is None else list(classes)
        if len(self.classes) != k:
            raise ValueError("%d class names for the %d channels of scores '%s'"
                             % (len(self.classes), k, self.score))
        self.mean = np.asarray(mean, np.float32)
        if self.mean.shape != (3,):
            raise ValueError('mean must be 3 numbers (one per channel), not %s' % (mean,))
        if channel_order not in cards.ORDERS:
            raise ValueError('channel_order must be one of %s, not %r'
                             % (', '.join(cards.ORDERS), channel_order))
        self.channel_order = channel_order
        # VOC's background (0) stays unpainted in overlays; other datasets have no background class.
        voc = isinstance(palette, str) and palette.lower() == 'voc'
        self.skip = (0, VOID) if voc else (VOID,)
        if palette is None:
            palette = vis.make_palette(k)
        elif isinstance(palette, (str, int, np.integer)):
            palette = vis.get_palette(palette)
        self.palette = np.asarray(palette, np.uint8)
        if self.palette.ndim != 2 or self.palette.shape[1] != 3:
            raise ValueError('a palette is a K x 3 array of RGB colors, not %s' % (self.palette.shape,))
        if len(self.palette) < k:
            raise ValueError('the palette has %d colors for %d classes' % (len(self.palette), k))
        self.net, self.device = net, str(device)
        self._dtype = np.uint8 if k <= 256 else np.int64

    def __repr__(self):
        return '<fcn.Model: %d classes, scores %r, mean %s (%s)>' % (
            len(self.classes), self.score, self.channel_order, ', '.join('%g' % m for m in self.mean))

    def preprocess(self, image):
        """An RGB image as the net's 3 x H x W input: channel order, 0-255, mean subtracted."""
        x = read_rgb(image).astype(np.float32)
        if self.channel_order == 'BGR':
            x = x[:, :, ::-1]
        return (x - self.mean).transpose(2, 0, 1)

    def forward(self, images):
        """The scores (n x K x H x W, a copy) of same-size RGB images, in one pass."""
        x = np.stack([self.preprocess(image) for image in images])
        data = self.net.blobs[self.input]
        data.reshape(*x.shape)
        self.net.reshape()  # the blobs' shapes, not yet their memory
        check_memory(self.net, self.device, x.shape)
        data.data[...] = x
        self.net.forward()
        scores = self.net.blobs[self.score].data
        if scores.shape[2:] != x.shape[2:]:
            raise ValueError("scores '%s' of size %s for an image of size %s: name the score blob "
                             'cropped to the input' % (self.score, scores.shape[2:], x.shape[2:]))
        return scores.copy()

    def batches(self, images, batch=1):
        """Yield (indices, RGB images, scores) per pass: up to ``batch`` images of one size.

        Images of the same size share passes wherever they are in the list; no image is
        resized. Passes go by size, in the order each size first appears.
        """
        if not isinstance(batch, int) or batch < 1:
            raise ValueError('batch must be a positive integer, not %r' % (batch,))
        groups = {}
        for i, image in enumerate(images):
            groups.setdefault(tuple(image_size(image)), []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), batch):
                chunk = indices[start:start + batch]
                rgb = [read_rgb(images[i]) for i in chunk]
                try:
                    scores = self.forward(rgb)
                except ValueError as e:  # say which images
                    raise ValueError('%s: %s' % (', '.join(image_name(images[i], i) for i in chunk), e)) from None
                yield chunk, rgb, scores

    def labels(self, scores):
        """The H x W label map (argmax over classes) of K x H x W scores."""
        return scores.argmax(0).astype(self._dtype)

    def predict(self, image, batch=1):
        """The H x W label map of an image (path, PIL image or RGB array); a list for a list.

        Of a list, ``batch`` images of the same size run in one pass; each label map is
        the one the image gets alone.
        """
        return self._each(image, batch, self.labels)

    def predict_proba(self, image, batch=1):
        """The class probabilities (K x H x W float32, softmax of the scores); a list for a list."""
        return self._each(image, batch, softmax)

    def _each(self, image, batch, f):
        if not isinstance(image, (list, tuple)):
            return self._each([image], batch, f)[0]
        out = [None] * len(image)
        for indices, _, scores in self.batches(image, batch):
            for i, s in zip(indices, scores):
                out[i] = f(s)
        return out

    def colorize(self, labels):
        """The label map as an H x W x 3 RGB image in the model's palette."""
        return vis.color_label(labels, self.palette)

    def overlay(self, image, labels, alpha=0.5):
        """The image with the label colors blended in (void, and VOC's background, left out)."""
        return vis.overlay(read_rgb(image), labels, self.palette, alpha, self.skip)

    def save_label(self, path, labels):
        """Write the label map as a palette-mode PNG in the model's palette."""
        vis.save_label(path, labels, self.palette)


def set_device(caffe, device):
    """Put Caffe in CPU mode ('cpu') or on a GPU ('cuda', 'cuda:N')."""
    device = str(device)
    if device == 'cpu':
        caffe.set_mode_cpu()
        return
    name, _, index = device.partition(':')
    if name != 'cuda' or not (index == '' or index.isdigit()):
        raise ValueError("device must be 'cpu', 'cuda' or 'cuda:N', not %r" % device)
    caffe.set_device(int(index or 0))
    caffe.set_mode_gpu()


def load(model, weights=None, *, mean=None, classes=None, palette=None, score=None, device='cpu',
         backend=None):
    """A Model from a deploy prototxt and its caffemodel, or from a model card.

    ``load(deploy, weights)``: defaults are VOC's mean, class names '0'..'K-1' and
    ``vis.make_palette(K)``. ``load(RUN)`` or ``load('RUN/model.json')``: the card's
    mean, channel order, classes, palette and score blob; arguments given override them.
    ``backend`` is 'torch' or 'caffe' (default: $FCN_BACKEND or torch).
    """
    model = os.fspath(model)
    if weights is None:
        if not (os.path.isdir(model) or model.endswith('.json')):
            raise ValueError('%s: give its weights too (load(deploy, weights)), or a run directory '
                             'or model.json' % model)
        card = cards.read(model)
        deploy, weights = card['deploy'], card['weights']
        channel_order = card['channel_order']
        mean = card['mean'] if mean is None else mean
        classes = card['classes'] if classes is None else classes
        palette = card['palette'] if palette is None else palette
        score = card['score'] if score is None else score
    else:
        deploy, weights, channel_order = model, os.fspath(weights), 'BGR'
        mean = VOC_MEAN if mean is None else mean
    # pycaffe aborts the process on a missing file: check here for a plain error
    for what, path in (('deploy prototxt', deploy), ('weights', weights)):
        if not os.path.isfile(path):
            raise FileNotFoundError('no %s file %s' % (what, path))
    caffe = backends.load(backend)
    set_device(caffe, device)
    net = caffe.Net(deploy, weights, caffe.TEST)
    return Model(net, mean, classes, palette, score, channel_order, device)
