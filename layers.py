"""Python data layers for FCN's datasets; the same module runs on torchcaffe and BVLC pycaffe.

Each layer feeds one image (batch of 1, as in FCN) per forward and reshapes its
tops to that image's size. ``param_str`` is a Python dict literal, parsed with
``ast.literal_eval`` (never executed), e.g.

    {'sbdd_dir': 'sbdd/dataset', 'split': 'train', 'mean': (104.00699, 116.66877, 122.67892), 'seed': 1337}

Keys: the dataset directories (``voc_dir``, ``sbdd_dir``, ``nyud_dir``,
``siftflow_dir``, ``context_dir``; relative paths start at the data root,
$FCN_DATA_ROOT or data/ beside this file), ``split`` (the split file's name),
``mean`` (B, G, R; default the dataset's), ``tops`` (which outputs, in order;
default the dataset's), ``randomize`` (default: True when the split name
contains 'train'), ``seed`` (default: drawn at setup), ``prefetch`` (how many
images a background thread loads ahead, in the same order; default 0, off:
loading one image takes milliseconds next to a VGG16 FCN step, pycaffe keeps
the GIL through Caffe's C++ so a thread gains little there, and off keeps
threads out of scoring and tests; 1-2 hides loading on torchcaffe).

Order, reproducible and resumable: the image fed at position i (the i-th
forward of this layer) depends only on (split, seed, i): entry i mod n in file
order, or, randomized, a draw with replacement (as the original layers) from a
generator seeded with (seed, i). ``layer.state`` is {'seed', 'position'};
``layer.restore(state)`` continues from it, so a solver resuming at iteration
k restores position k * iter_size of its training net's data layer.
"""
import ast
import functools
import os
import queue
import threading
import weakref

import numpy as np

import backend
import seg_datasets

caffe = backend.load()

COMMON_KEYS = ('split', 'mean', 'tops', 'randomize', 'seed', 'prefetch')


def parse_param_str(text, layer, dirs):
    """The dict literal ``text`` of ``layer``, checked against its keys; nothing is executed."""
    try:
        params = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        params = None
    if not isinstance(params, dict):
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


def shard():
    """(rank, world size) of a data-parallel run (torchrun's environment), else (0, 1)."""
    return int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))


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

    def __call__(self, position):
        position = position * self.world + self.rank
        if not self.randomize:
            return position % self.n
        return int(np.random.default_rng((self.seed, position)).integers(self.n))


def load_position(reader, order, tops, position):
    """The arrays fed at ``position``."""
    return reader.load(reader.ids[order(position)], tops)


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

    dataset = None  # a seg_datasets.Dataset subclass
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
        require(is_count(depth), name, 'prefetch', depth, 'a non-negative integer')
        require(type(randomize) is bool, name, 'randomize', randomize, 'True or False')
        # Training data is split among data-parallel replicas; evaluation is not (rank 0 scores).
        rank, world = shard() if randomize else (0, 1)
        self.order = Order(len(self.reader.ids), randomize, seed, rank, world)
        self.load = functools.partial(load_position, self.reader, self.order, self.tops)
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
    dataset, dirs = seg_datasets.VOC, ('voc_dir',)


class SBDDSegDataLayer(SegDataLayer):
    """SBD: tops data, label (21 classes)."""
    dataset, dirs = seg_datasets.SBD, ('sbdd_dir',)


class NYUDSegDataLayer(SegDataLayer):
    """NYUDv2: tops from color, depth, hha, label (40 classes, 255 void)."""
    dataset, dirs = seg_datasets.NYUD, ('nyud_dir',)


class SIFTFlowSegDataLayer(SegDataLayer):
    """SIFT Flow: tops data, sem (33 classes), geo (3 classes); 255 void."""
    dataset, dirs = seg_datasets.SIFTFlow, ('siftflow_dir',)


class PASCALContextSegDataLayer(SegDataLayer):
    """PASCAL-Context: tops data, label (59 classes + background 0)."""
    dataset, dirs = seg_datasets.PASCALContext, ('context_dir', 'voc_dir')
