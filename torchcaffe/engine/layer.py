"""The engine's layer base class and the registry of layer types.

A layer follows Caffe's life cycle: ``setup`` once (check blob counts, create
parameters, first reshape, loss weights), then ``reshape`` + ``forward`` on
every pass and ``backward`` when the net needs it. Bottoms and tops are lists
of Blobs. Like Caffe, ``backward`` overwrites bottom diffs and accumulates
parameter diffs (the solver clears them).
"""
import difflib
import math

import numpy as np

from ..errors import FormatError, NetError
from .blob import Blob

REGISTRY = {}


def register(*types):
    """Class decorator: make the class the implementation of Caffe layer ``types``."""
    def deco(cls):
        for t in types:
            REGISTRY[t] = cls
        return cls
    return deco


def create(param, phase, device):
    """Instantiate the layer described by LayerParameter ``param``."""
    cls = REGISTRY.get(param.type)
    if cls is None:
        raise NetError("layer '%s': unknown layer type '%s' (%s)"
                       % (param.name, param.type, _type_hint(param.type)))
    return cls(param, phase, device)


def _type_hint(name):
    """The registered type ``name`` misspells, else what the known types are."""
    by_lower = {t.lower(): t for t in REGISTRY}
    # only near-identical names: PReLU is not a misspelt ReLU, nor ReLU6
    close = difflib.get_close_matches(name.lower(), by_lower, n=1, cutoff=0.9)
    if close:
        return "did you mean '%s'? types are case-sensitive" % by_lower[close[0]]
    return ('not a layer type of BVLC Caffe: caffe.layer_type_list() has the %d known; a layer '
            'of another Caffe fork can be written as a Python layer' % len(REGISTRY))


class Layer:
    """Base of every engine layer. Subclasses override the hooks they need."""

    # Blob-count contract (Caffe's ExactNumBottomBlobs & co.); -1 means "any".
    exact_bottoms = min_bottoms = max_bottoms = -1
    exact_tops = min_tops = max_tops = -1
    equal_bottoms_tops = False
    # May take and give bfloat16 blobs in bf16 mode; the net hands other layers float32.
    low_precision = False
    # False when the net never runs this layer's backward: forward may keep less state.
    need_backward = True

    def __init__(self, param, phase, device):
        self.param = param      # Caffe's layer_param_: setup may add loss weights
        self.phase = phase
        self.device = device
        self.blobs = [blob_from_proto(b, device) for b in param.blobs]
        self.loss_weights = []
        self.param_propagate_down = []

    @property
    def type(self):
        return self.param.type

    @property
    def name(self):
        return self.param.name

    def error(self, message):
        return NetError("layer '%s' (%s): %s" % (self.param.name, self.param.type, message))

    def read_blobproto(self, field, path):
        """The array of the binary BlobProto file ``path`` that parameter ``field`` names;
        an error naming this layer and the field when the file cannot be read."""
        from ..formats import binaryproto
        from ..io import blobproto_to_array
        from ..proto import caffe_pb2
        try:
            return blobproto_to_array(binaryproto.read(path, caffe_pb2.BlobProto))
        except FormatError as e:
            raise self.error('%s: %s' % (field, e)) from None

    def canonical_axis(self, axis, num_axes):
        """``axis_index`` with its error naming this layer."""
        try:
            return axis_index(axis, num_axes)
        except ValueError as e:
            raise self.error(str(e)) from None

    # -- life cycle -----------------------------------------------------
    def setup(self, bottom, top):
        self.check_blob_counts(bottom, top)
        self.layer_setup(bottom, top)
        self.reshape(bottom, top)
        self.set_loss_weights(top)

    def check_blob_counts(self, bottom, top):
        nb, nt = len(bottom), len(top)
        checks = [
            (self.exact_bottoms < 0 or nb == self.exact_bottoms, 'takes %d bottom blob(s)' % self.exact_bottoms),
            (self.min_bottoms < 0 or nb >= self.min_bottoms, 'takes at least %d bottom blob(s)' % self.min_bottoms),
            (self.max_bottoms < 0 or nb <= self.max_bottoms, 'takes at most %d bottom blob(s)' % self.max_bottoms),
            (self.exact_tops < 0 or nt == self.exact_tops, 'produces %d top blob(s)' % self.exact_tops),
            (self.min_tops < 0 or nt >= self.min_tops, 'produces at least %d top blob(s)' % self.min_tops),
            (self.max_tops < 0 or nt <= self.max_tops, 'produces at most %d top blob(s)' % self.max_tops),
            (not self.equal_bottoms_tops or nb == nt, 'produces one top per bottom'),
        ]
        for ok, what in checks:
            if not ok:
                raise self.error('%s, got %d bottom(s) and %d top(s)' % (what, nb, nt))

    def layer_setup(self, bottom, top):
        """Read parameters and create parameter blobs (Caffe's LayerSetUp)."""

    def reshape(self, bottom, top):
        raise NotImplementedError

    def forward(self, bottom, top):
        raise NotImplementedError

    def backward(self, top, propagate_down, bottom):
        if any(propagate_down):
            raise self.error('has no backward computation')

    def allow_force_backward(self, bottom_index):
        return True

    def set_loss_weights(self, top):
        weights = list(self.param.loss_weight)
        if weights and len(weights) != len(top):
            raise self.error('loss_weight must be unspecified or given once per top '
                             '(%d weights, %d tops)' % (len(weights), len(top)))
        self.loss_weights = weights + [0.0] * (len(top) - len(weights))
        for t, w in zip(top, self.loss_weights):
            if w:
                t.diff[...] = w  # backward reads the weight back as the top diff

    def check_labels(self, blob, classes, ignore=None):
        """Raise naming the first label outside [0, classes) that is not ``ignore``.

        Checked on the host: labels written by a data layer are there already, so the
        check costs no device sync (labels made on the device are copied once)."""
        with np.errstate(invalid='ignore'):  # NaN becomes a negative int: reported below
            lab = blob.read_data().reshape(-1).astype(np.int64)  # Caffe's int cast
        bad = (lab < 0) | (lab >= classes)
        if ignore is not None:
            bad &= lab != ignore
        if bad.any():
            raise self.error('label %d outside [0, %d) and not the ignore label'
                             % (int(lab[bad][0]), classes))

    # -- parameters -----------------------------------------------------
    def add_param(self, shape, filler=None):
        """Append a parameter blob of ``shape``, filled by FillerParameter ``filler``."""
        from .fillers import fill
        blob = Blob(shape, self.device)
        fill(blob, filler, self)
        self.blobs.append(blob)
        return blob

    def check_param_shapes(self, *shapes):
        """Parameters given in the prototxt must have the shapes this layer expects."""
        if len(self.blobs) != len(shapes):
            raise self.error('has %d parameter blob(s), expected %d' % (len(self.blobs), len(shapes)))
        for i, (b, s) in enumerate(zip(self.blobs, shapes)):
            if tuple(b.shape) != tuple(s):
                raise self.error('parameter %d has shape %s, expected %s' % (i, b.shape, tuple(s)))


def blob_from_proto(proto, device):
    """A Blob holding the contents of BlobProto ``proto`` (shape as Caffe reads it)."""
    from ..io import blobproto_to_array
    arr = blobproto_to_array(proto)
    blob = Blob(arr.shape, device)
    blob.data[...] = arr
    return blob


def axis_index(axis, num_axes, what='axis'):
    """Caffe's CanonicalAxisIndex: negative axes count from the end."""
    if not -num_axes <= axis < max(num_axes, 1):
        raise ValueError('%s %d out of range for a %d-axis blob' % (what, axis, num_axes))
    return axis + num_axes if axis < 0 else axis


def count(shape, start=0, end=None):
    """Product of ``shape[start:end]`` (1 for an empty range)."""
    return math.prod(int(d) for d in shape[start:end])
