"""Python data layers for FCN's datasets; the same module runs on torchcaffe and BVLC pycaffe.

Each layer feeds one image (batch of 1, as in FCN) per forward and reshapes its
tops to that image's size. ``param_str`` is a Python dict literal, parsed with
``ast.literal_eval`` (never executed), e.g.

    {'sbdd_dir': 'sbdd/dataset', 'split': 'train', 'mean': (104.00699, 116.66877, 122.67892), 'seed': 1337}

Keys: the dataset directories (``voc_dir``, ``sbdd_dir``, ``nyud_dir``,
``siftflow_dir``, ``context_dir``; relative paths start at the data root,
$FCN_DATA_ROOT or data/ beside this file), ``split`` (the split file's name;
for FolderSegDataLayer, your own data, the path of a file listing the stems, and
``images_dir``, ``masks_dir``, ``num_classes`` say where and how many),
``mean`` (B, G, R; default the dataset's), ``tops`` (which outputs, in order;
default the dataset's), ``randomize`` (default: True when the split name
contains 'train'), ``seed`` (default: drawn at setup), ``prefetch`` (how many
images a background thread loads ahead, in the same order; default 0, off:
loading one image takes milliseconds next to a VGG16 FCN step, pycaffe keeps
the GIL through Caffe's C++ so a thread gains little there, and off keeps
threads out of scoring and tests; 1-2 hides loading on torchcaffe).

Transforms, all off by default, applied to each loaded image in this order
(docs/training-options.md says why and how to use them):

- ``mask``: the input cues of the paper's Table 8, from the ground truth of
  datasets with a background class (VOC, SBD, PASCAL-Context; needs the
  ``label`` top). Each pixel is foreground (an object class), background, or
  void. 'fg-only' keeps the foreground pixels of the inputs, 'bg-only' the
  background pixels; the others are set to the mean (0 after subtraction).
  'shape' replaces the inputs by the foreground mask drawn as a picture,
  preprocessed like one: foreground white (255 - mean), background black
  (0 - mean), void the mean.
- ``mirror``: True flips the image and its labels left-right with probability 1/2.
- ``jitter``: translates the image and its labels by a uniform integer offset
  in [-jitter, jitter] pixels on each axis; uncovered inputs are the mean (0),
  uncovered labels void (255). The paper jitters up to 32, the coarsest stride.
- ``sample``: loss sampling, keeping each ``sample_stride`` x ``sample_stride``
  cell of the labels (default 32, the final layer's stride; the grid starts at
  the top left pixel) with probability ``sample``; the others become void, so
  the loss ignores them. train.py's --train-data scales the solver's iter_size
  by 1/sample to keep the effective batch size, as the paper does.

Order, reproducible and resumable: the image fed at position i (the i-th
forward of this layer) depends only on (split, seed, i): entry i mod n in file
order, or, randomized, a draw with replacement (as the original layers) from a
generator seeded with (seed, i); the transforms draw from another generator
seeded with (seed, i). ``layer.state`` is {'seed', 'position'};
``layer.restore(state)`` continues from it, so a solver resuming at iteration
k restores position k * iter_size of its training net's data layer.
"""
import functools
import os
import queue
import threading
import weakref

import numpy as np

from fcn import backend
from fcn import datasets
from nets.data import dict_literal

caffe = backend.load()

TRANSFORM_KEYS = ('mask', 'mirror', 'jitter', 'sample', 'sample_stride')
MAX_PREFETCH = 64  # images loaded ahead; Caffe's DataParameter default is 4
COMMON_KEYS = ('split', 'mean', 'tops', 'randomize', 'seed', 'prefetch') + TRANSFORM_KEYS
MASKS = ('fg-only', 'bg-only', 'shape')
VOID = datasets.VOID


def parse_param_str(text, layer, dirs):
    """The dict literal ``text`` of ``layer``, checked against its keys; nothing is executed."""
    params = dict_literal(text)
    if params is None:
        raise ValueError("%s param_str must be a Python dict literal such as {'split': 'val', ...}, got %r"
                         % (layer, text))
    unknown = [k for k in params if k not in dirs + COMMON_KEYS]
    if unknown:
        raise ValueError('%s param_str has unknown keys %s; the keys are %s'
                         % (layer, ', '.join(map(repr, unknown)), ', '.join(dirs + COMMON_KEYS)))
    missing = [k for k in dirs + ('split',) if k not in params]
    if missing:
        raise ValueError('%s param_str lacks %s' % (layer, ', '.join(missing)))
    return params


def is_count(value):
    return type(value) is int and value >= 0


def require(ok, layer, key, value, what):
    """Raise ValueError naming ``layer``'s param_str ``key`` unless ``ok``."""
    if not ok:
        raise ValueError('%s %s must be %s, got %r' % (layer, key, what, value))


class Order:
    """Which split entry feeds position i: i mod n, or a seeded draw depending only on (seed, i).

    Replica ``rank`` of ``world`` data-parallel processes reads the draws rank,
    rank + world, ... of the same stream, so N replicas see what one process sees
    in N consecutive positions.
    """

    def __init__(self, n, randomize, seed=None, rank=0, world=1):
        self.n = n
        self.randomize = randomize
        self.rank, self.world = rank, world
        # An unseeded run still gets a seed, so that its state can be saved and restored.
        self.seed = int(np.random.SeedSequence().entropy % 2**63) if seed is None else seed

    def stream(self, position):
        """Where this replica's ``position`` lies in the stream all replicas share."""
        return position * self.world + self.rank

    def __call__(self, position):
        position = self.stream(position)
        if not self.randomize:
            return position % self.n
        return int(np.random.default_rng((self.seed, position)).integers(self.n))


class Transform:
    """The transforms of a layer's param_str (see the module docstring) for its ``tops``."""

    def __init__(self, layer, reader, tops, mask=None, mirror=False, jitter=0, sample=1.0, sample_stride=32):
        require(mask is None or mask in MASKS, layer, 'mask', mask, 'one of %s' % ', '.join(MASKS))
        require(mask is None or (reader.background is not None and 'label' in tops), layer, 'mask', mask,
                'used with a "label" top of a dataset with a background class')
        require(type(mirror) is bool, layer, 'mirror', mirror, 'True or False')
        require(is_count(jitter), layer, 'jitter', jitter, 'a non-negative integer')
        require(type(sample) in (int, float) and 0 < sample <= 1, layer, 'sample', sample, 'in (0, 1]')
        require(is_count(sample_stride) and sample_stride > 0, layer, 'sample_stride', sample_stride,
                'a positive integer')
        self.mask, self.mirror, self.jitter = mask, mirror, jitter
        self.sample, self.stride = sample, sample_stride
        self.labels = [i for i, t in enumerate(tops) if t in reader.label_classes]
        self.inputs = [(i, reader.means[t]) for i, t in enumerate(tops) if t not in reader.label_classes]
        self.label = tops.index('label') if mask else None
        self.background = reader.background

    def __bool__(self):
        return bool(self.mask or self.mirror or self.jitter or self.sample < 1)

    def __call__(self, arrays, seed, position):
        """``arrays`` (C x H x W each) transformed as position ``position`` of a run seeded ``seed``."""
        rng = np.random.default_rng((seed, position, 1))  # 1: a stream apart from the order's
        arrays = list(arrays)
        if self.mask:
            self.apply_mask(arrays)
        if self.mirror and rng.random() < 0.5:
            arrays = [a[:, :, ::-1] for a in arrays]
        if self.jitter:
            dy, dx = rng.integers(-self.jitter, self.jitter + 1, size=2)
            arrays = [translate(a, dy, dx, VOID if i in self.labels else 0) for i, a in enumerate(arrays)]
        if self.sample < 1:
            h, w = arrays[0].shape[1:]
            cells = rng.random((-(-h // self.stride), -(-w // self.stride))) < self.sample
            # each pixel's cell by index: no array larger than the image, whatever the stride
            drop = ~cells[np.arange(h)[:, None] // self.stride, np.arange(w) // self.stride]
            for i in self.labels:
                arrays[i][:, drop] = VOID
        return arrays

    def apply_mask(self, arrays):
        """Hide the input pixels ``mask`` does not keep (in place)."""
        label = arrays[self.label][0]
        fg = (label != self.background) & (label != VOID)
        bg = label == self.background
        for i, mean in self.inputs:
            x = arrays[i]
            if self.mask == 'shape':
                x[...] = np.where(fg, 255 - mean[:, None, None], np.where(bg, -mean[:, None, None], 0))
            else:
                x[:, ~(fg if self.mask == 'fg-only' else bg)] = 0


def translate(array, dy, dx, fill):
    """``array`` (C x H x W) moved ``dy`` pixels down and ``dx`` right; uncovered pixels are ``fill``."""
    h, w = array.shape[1:]
    dy, dx = int(np.clip(dy, -h, h)), int(np.clip(dx, -w, w))
    out = np.full_like(array, fill)
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        array[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def load_position(reader, order, tops, transform, position):
    """The arrays fed at ``position``."""
    arrays = reader.load(reader.ids[order(position)], tops)
    return transform(arrays, order.seed, order.stream(position)) if transform else arrays


class Prefetcher:
    """Loads positions p, p+1, ... on a daemon thread into a queue of ``depth`` items.

    ``get`` must be asked for consecutive positions; asking for another restarts
    the thread there. A loading error is raised by ``get`` of its position.
    The thread holds no reference to the layer, so a dropped layer is collected
    and its finalizer stops the thread.
    """

    def __init__(self, load, depth):
        self.load = load
        self.depth = depth
        self.thread = None
        self.next = None

    def get(self, position):
        if self.thread is None or position != self.next:
            self.start(position)
        item = self.queue.get()
        self.next = position + 1
        if isinstance(item, Exception):
            self.close()
            raise item
        return item

    def start(self, position):
        self.close()
        self.queue, self.stop = queue.Queue(self.depth), threading.Event()
        self.thread = threading.Thread(target=fill, args=(self.load, position, self.queue, self.stop),
                                       name='fcn-prefetch', daemon=True)
        self.thread.start()

    def close(self):
        """Stop the thread (it notices within 0.1 s) and forget what it loaded."""
        if self.thread is not None:
            self.stop.set()
            self.thread.join(timeout=5)
            self.thread = None


def fill(load, position, out, stop):
    """The prefetch thread: load and enqueue positions until stopped or an error."""
    while not stop.is_set():
        try:
            item = load(position)
        except Exception as e:  # handed to the consumer, raised there
            item = e
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                break
            except queue.Full:
                pass
        if isinstance(item, Exception):
            return
        position += 1


class SegDataLayer(caffe.Layer):
    """A dataset reader as a data layer: no bottoms, one top per entry of ``tops``."""

    dataset = None  # a datasets.Dataset subclass
    dirs = ()       # its directory keys, in its constructor's order

    def setup(self, bottom, top):
        name = type(self).__name__
        params = parse_param_str(self.param_str, name, self.dirs)
        if len(bottom):
            raise ValueError('%s is a data layer: it takes no bottoms' % name)
        split = params['split']
        self.reader = self.dataset(*[params[k] for k in self.dirs], split=split, mean=params.get('mean'))
        self.tops = tuple(params.get('tops', self.reader.tops))
        self.reader.check_tops(self.tops)
        if len(top) != len(self.tops):
            raise ValueError('%s feeds %d tops (%s) but the net gives it %d'
                             % (name, len(self.tops), ', '.join(self.tops), len(top)))
        seed, depth = params.get('seed'), params.get('prefetch', 0)
        randomize = params.get('randomize', 'train' in split)
        require(seed is None or is_count(seed), name, 'seed', seed, 'a non-negative integer')
        require(is_count(depth) and depth <= MAX_PREFETCH, name, 'prefetch', depth,
                'an integer from 0 to %d (each prefetched image is held in memory)' % MAX_PREFETCH)
        require(type(randomize) is bool, name, 'randomize', randomize, 'True or False')
        # Training data is split among data-parallel replicas; evaluation is not (rank 0 scores).
        rank, world = backend.shard() if randomize else (0, 1)
        self.order = Order(len(self.reader.ids), randomize, seed, rank, world)
        self.transform = Transform(name, self.reader, self.tops, **{k: params[k] for k in TRANSFORM_KEYS
                                                                      if k in params})
        self.load = functools.partial(load_position, self.reader, self.order, self.tops, self.transform)
        self.prefetcher = Prefetcher(self.load, depth) if depth else None
        if self.prefetcher:
            weakref.finalize(self, self.prefetcher.close)
        self.position = 0
        self.item = None  # (position, arrays) loaded by reshape for forward

    @property
    def state(self):
        """Where the order stands: {'seed', 'position'}."""
        return {'seed': self.order.seed, 'position': self.position}

    def restore(self, state):
        """Continue from a ``state``: the next forward feeds its position."""
        self.order.seed = state.get('seed', self.order.seed)
        self.position = int(state['position'])
        self.item = None
        if self.prefetcher:
            self.prefetcher.close()

    def reshape(self, bottom, top):
        # Caffe reshapes before every forward (and once at setup): load once per position.
        if self.item is None or self.item[0] != self.position:
            get = self.prefetcher.get if self.prefetcher else self.load
            self.item = (self.position, get(self.position))
        for i, array in enumerate(self.item[1]):  # indexed: pycaffe's blob vectors do not iterate
            top[i].reshape(1, *array.shape)

    def forward(self, bottom, top):
        for i, array in enumerate(self.item[1]):
            top[i].data[...] = array
        self.position += 1

    def backward(self, top, propagate_down, bottom):
        pass


class VOCSegDataLayer(SegDataLayer):
    """PASCAL VOC: tops data, label (21 classes, 255 void)."""
    dataset, dirs = datasets.VOC, ('voc_dir',)


class SBDDSegDataLayer(SegDataLayer):
    """SBD: tops data, label (21 classes)."""
    dataset, dirs = datasets.SBD, ('sbdd_dir',)


class NYUDSegDataLayer(SegDataLayer):
    """NYUDv2: tops from color, depth, hha, label (40 classes, 255 void)."""
    dataset, dirs = datasets.NYUD, ('nyud_dir',)


class SIFTFlowSegDataLayer(SegDataLayer):
    """SIFT Flow: tops data, sem (33 classes), geo (3 classes); 255 void."""
    dataset, dirs = datasets.SIFTFlow, ('siftflow_dir',)


class PASCALContextSegDataLayer(SegDataLayer):
    """PASCAL-Context: tops data, label (59 classes + background 0)."""
    dataset, dirs = datasets.PASCALContext, ('context_dir', 'voc_dir')


class FolderSegDataLayer(SegDataLayer):
    """Your own images and masks (fcn train): tops data, label (num_classes classes, 255 void)."""
    dataset, dirs = datasets.Folder, ('images_dir', 'masks_dir', 'num_classes')  # dirs: the required keys
