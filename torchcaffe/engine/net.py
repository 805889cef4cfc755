"""Net: a Caffe net built from a NetParameter and run layer by layer on torch.

Construction follows Caffe's Net::Init: filter layers by phase/level/stage,
insert Split layers for blobs with several consumers, wire bottoms and tops
(in-place when a top reuses its bottom's name), set layers up, then decide
which layers and blobs need backward exactly as Caffe does, so the same diffs
are computed and the same ones are left alone.
"""
import collections
import functools
import os
import warnings

import numpy as np
import torch

from ..errors import NetError
from ..proto import caffe_pb2
from . import device as _device
from .blob import Blob
from .layer import create as create_layer
from . import layers as _layers  # noqa: F401  (registers the layer types)
from . import python_layer  # noqa: F401

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST


def _rule_met(state, rule):
    """Caffe's StateMeetsRule."""
    if rule.HasField('phase') and rule.phase != state.phase:
        return False
    if rule.HasField('min_level') and state.level < rule.min_level:
        return False
    if rule.HasField('max_level') and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    return all(s in stages for s in rule.stage) and not any(s in stages for s in rule.not_stage)


def filter_net(param):
    """The layers of ``param`` that its ``state`` includes (Caffe's FilterNet)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    for layer in param.layer:
        if len(layer.include) and len(layer.exclude):
            raise NetError("layer '%s': give include rules or exclude rules, not both" % layer.name)
        if len(layer.include):
            keep = any(_rule_met(param.state, r) for r in layer.include)
        else:
            keep = not any(_rule_met(param.state, r) for r in layer.exclude)
        if keep:
            out.layer.add().CopyFrom(layer)
    return out


def split_blob_name(layer, blob, top_index, split_index):
    return '%s_%s_%d_split_%d' % (blob, layer, top_index, split_index)


def insert_splits(param):
    """Insert Split layers for tops consumed more than once (Caffe's InsertSplits)."""
    last_top = {}             # blob name -> (layer index, top index) producing it now
    source = {}               # (layer, bottom) -> (layer, top)
    consumers = collections.Counter()
    loss_weight = {}
    for i, layer in enumerate(param.layer):
        for j, name in enumerate(layer.bottom):
            if name not in last_top:
                raise NetError("layer '%s': unknown bottom blob '%s' (bottom %d): no layer "
                               "before it produces that blob" % (layer.name, name, j))
            source[i, j] = last_top[name]
            consumers[last_top[name]] += 1
        for j, name in enumerate(layer.top):
            last_top[name] = (i, j)
        for j in range(min(len(layer.loss_weight), len(layer.top))):
            top = last_top[layer.top[j]]
            loss_weight[top] = layer.loss_weight[j]
            if layer.loss_weight[j]:
                consumers[top] += 1
    out = caffe_pb2.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    next_split = collections.Counter()
    for i, layer in enumerate(param.layer):
        new = out.layer.add()
        new.CopyFrom(layer)
        for j in range(len(new.bottom)):
            top = source[i, j]
            if consumers[top] > 1:
                producer = param.layer[top[0]].name
                new.bottom[j] = split_blob_name(producer, new.bottom[j], top[1], next_split[top])
                next_split[top] += 1
        for j in range(len(new.top)):
            n = consumers[(i, j)]
            if n <= 1:
                continue
            weight = loss_weight.get((i, j), 0)
            split = out.layer.add()
            split.name = '%s_%s_%d_split' % (new.top[j], layer.name, j)
            split.type = 'Split'
            split.bottom.append(new.top[j])
            for k in range(n):
                split.top.append(split_blob_name(layer.name, new.top[j], j, k))
                if weight:
                    split.loss_weight.append(weight if k == 0 else 0)
            if weight:
                del new.loss_weight[:]
                next_split[(i, j)] += 1
    return out


def read_net_param(source):
    """NetParameter from a prototxt path or a message (copied)."""
    if isinstance(source, caffe_pb2.NetParameter):
        param = caffe_pb2.NetParameter()
        param.CopyFrom(source)
        return param
    from ..formats import read_net
    return read_net(os.fspath(source))


class Net:
    """pycaffe's Net on the torch engine.

    ``Net(prototxt, phase)``, ``Net(prototxt, weights, phase)`` or
    ``Net(prototxt, phase, level=0, stages=None, weights=None)``; ``prototxt``
    may also be a NetParameter message.
    """

    def __init__(self, network_file, *args, level=0, stages=None, weights=None, phase=None):
        args = list(args)
        if args and isinstance(args[0], (str, os.PathLike)):
            weights = args.pop(0)
        if args:
            phase = args.pop(0)
        if args or phase not in (TRAIN, TEST):
            raise TypeError('Net(prototxt, [weights,] phase): phase must be TRAIN or TEST')
        param = read_net_param(network_file)
        param.state.phase = phase
        param.state.level = level
        del param.state.stage[:]
        param.state.stage.extend(stages or [])
        self._source = network_file if not isinstance(network_file, caffe_pb2.NetParameter) else None
        self._init(param)
        if weights is not None:
            self.copy_from(weights)

    # -- construction ---------------------------------------------------
    def _init(self, in_param):
        self.phase = in_param.state.phase
        self._device = _device.current()
        param = insert_splits(filter_net(in_param))
        self.name = param.name
        self._layers, self._layer_names = [], []
        self._bottoms, self._tops = [], []
        self._bottom_ids, self._top_ids = [], []
        self._blobs, self._blob_names = [], []
        self._blob_need_backward, self._blob_loss_weights = [], []
        self._bottom_need_backward, self._layer_need_backward = [], []
        self._input_ids = []
        self._params, self._param_owners, self._param_layer = [], [], []
        self.learnable_params, self.params_lr, self.params_weight_decay = [], [], []
        self._learnable_id = []
        self._has_lr, self._has_decay = [], []
        param_names = {}
        name_to_id, available = {}, set()

        for lid, lp in enumerate(param.layer):
            if not lp.HasField('phase'):
                lp.phase = self.phase
            if len(lp.propagate_down) and len(lp.propagate_down) != len(lp.bottom):
                raise NetError("layer '%s': propagate_down must be given 0 or %d (bottom count) times"
                               % (lp.name, len(lp.bottom)))
            layer = create_layer(lp, self.phase, self._device)
            self._layers.append(layer)
            self._layer_names.append(lp.name)
            need_backward = False
            bottoms, bids, bneed = [], [], []
            for j, name in enumerate(lp.bottom):
                if name not in available:
                    raise NetError("layer '%s': unknown bottom blob '%s' (bottom %d)" % (lp.name, name, j))
                bid = name_to_id[name]
                available.discard(name)
                bottoms.append(self._blobs[bid])
                bids.append(bid)
                need = self._blob_need_backward[bid]
                if len(lp.propagate_down):
                    need = lp.propagate_down[j]
                bneed.append(bool(need))
                need_backward |= self._blob_need_backward[bid]
            tops, tids = [], []
            for j, name in enumerate(lp.top):
                if j < len(lp.bottom) and name == lp.bottom[j]:
                    tid = name_to_id[name]             # in place
                elif name in name_to_id:
                    raise NetError("layer '%s': top blob '%s' is produced by another layer too "
                                   "(only an in-place top may reuse a name)" % (lp.name, name))
                else:
                    tid = len(self._blobs)
                    self._blobs.append(Blob((), self._device))
                    self._blob_names.append(name)
                    self._blob_need_backward.append(False)
                    self._blob_loss_weights.append(0.0)
                    name_to_id[name] = tid
                if lp.type == 'Input':
                    self._input_ids.append(tid)
                available.add(name)
                tops.append(self._blobs[tid])
                tids.append(tid)
            self._bottoms.append(bottoms)
            self._tops.append(tops)
            self._bottom_ids.append(bids)
            self._top_ids.append(tids)
            self._bottom_need_backward.append(bneed)
            layer.setup(bottoms, tops)
            for j, tid in enumerate(tids):
                self._blob_loss_weights[tid] = layer.loss_weights[j]
            nblobs = len(layer.blobs)
            if len(lp.param) > nblobs:
                raise NetError("layer '%s': %d param specs for %d parameter blobs"
                               % (lp.name, len(lp.param), nblobs))
            layer.param_propagate_down = []
            for pid in range(nblobs):
                spec = lp.param[pid] if pid < len(lp.param) else caffe_pb2.ParamSpec()
                layer.param_propagate_down.append(spec.lr_mult != 0)
                need_backward |= spec.lr_mult != 0
            for pid in range(nblobs):
                self._append_param(lid, pid, param_names)
            self._layer_need_backward.append(need_backward)
            if need_backward:
                for tid in tids:
                    self._blob_need_backward[tid] = True

        self._prune_backward()
        if param.force_backward:
            for lid, layer in enumerate(self._layers):
                self._layer_need_backward[lid] = True
                for j, bid in enumerate(self._bottom_ids[lid]):
                    need = self._bottom_need_backward[lid][j] or layer.allow_force_backward(j)
                    self._bottom_need_backward[lid][j] = need
                    self._blob_need_backward[bid] = self._blob_need_backward[bid] or need
                layer.param_propagate_down = [True] * len(layer.blobs)
        for layer, need in zip(self._layers, self._layer_need_backward):
            layer.need_backward = need
        self._output_ids = [name_to_id[n] for n in sorted(available)]
        self._blob_index = {n: i for i, n in enumerate(self._blob_names)}
        self._layer_index = {}
        for i, n in enumerate(self._layer_names):
            self._layer_index.setdefault(n, i)
        self._loss_tops = [[j for j, w in enumerate(layer.loss_weights) if w]
                           for layer in self._layers]
        self._relu_after = [self._relu_follows(i) for i in range(len(self._layers))]
        self._param_text = param
        self._hooks = {k: [] for k in ('before_forward', 'after_forward', 'before_backward', 'after_backward')}

    def _relu_follows(self, i):
        """Whether layer ``i`` is a Convolution that may apply the next layer, an in-place
        ReLU (slope 0) on its only top, itself: nothing else sees the top in between."""
        if self._layers[i].type != 'Convolution' or i + 1 == len(self._layers) or self._loss_tops[i]:
            return False
        relu = self._layers[i + 1]
        return (relu.type == 'ReLU' and relu.param.relu_param.negative_slope == 0 and len(self._tops[i]) == 1
                and self._bottoms[i + 1] == self._tops[i + 1] == self._tops[i])

    def _append_param(self, lid, pid, param_names):
        """Register parameter ``pid`` of layer ``lid``; named params are shared."""
        lp = self._layers[lid].param
        spec = lp.param[pid] if pid < len(lp.param) else caffe_pb2.ParamSpec()
        blob = self._layers[lid].blobs[pid]
        net_pid = len(self._params)
        self._params.append(blob)
        self._param_layer.append((lid, pid))
        name = spec.name
        if not name or name not in param_names:
            if name:
                param_names[name] = net_pid
            self._param_owners.append(-1)
            self._learnable_id.append(len(self.learnable_params))
            self.learnable_params.append(blob)
            self._has_lr.append(spec.HasField('lr_mult'))
            self._has_decay.append(spec.HasField('decay_mult'))
            self.params_lr.append(spec.lr_mult)
            self.params_weight_decay.append(spec.decay_mult)
            return
        owner = param_names[name]
        olid, opid = self._param_layer[owner]
        owner_blob = self._layers[olid].blobs[opid]
        permissive = pid < len(lp.param) and spec.share_mode == caffe_pb2.ParamSpec.PERMISSIVE
        same = blob.count == owner_blob.count if permissive else blob.shape == owner_blob.shape
        if not same:
            raise NetError("layer '%s': cannot share param '%s' owned by layer '%s': shape %s vs %s"
                           % (lp.name, name, self._layer_names[olid], blob.shape, owner_blob.shape))
        self._param_owners.append(owner)
        lrn = self._learnable_id[owner]
        self._learnable_id.append(lrn)
        for has, values, field in ((self._has_lr, self.params_lr, 'lr_mult'),
                                   (self._has_decay, self.params_weight_decay, 'decay_mult')):
            if spec.HasField(field):
                if has[lrn] and values[lrn] != getattr(spec, field):
                    raise NetError("layer '%s': shared param '%s' has a mismatched %s"
                                   % (lp.name, name, field))
                has[lrn] = True
                values[lrn] = getattr(spec, field)
        # Caffe's ShareWeights: the sharing layer uses the owner's memory.
        blob.reshape(owner_blob.shape)
        blob.share_data(owner_blob)
        blob.share_diff(owner_blob)

    def _prune_backward(self):
        """Skip backward for layers that do not lead to a loss (Caffe's second Init pass)."""
        under_loss, skip = set(), set()
        for lid in reversed(range(len(self._layers))):
            layer = self._layers[lid]
            names = [self._blob_names[t] for t in self._top_ids[lid]]
            contributes = any(layer.loss_weights[j] or n in under_loss for j, n in enumerate(names))
            skip_down = all(n in skip for n in names)
            if self._layer_need_backward[lid] and skip_down:
                self._layer_need_backward[lid] = False
                self._bottom_need_backward[lid] = [False] * len(self._bottom_ids[lid])
            if not contributes:
                self._layer_need_backward[lid] = False
            for j, bid in enumerate(self._bottom_ids[lid]):
                if contributes:
                    under_loss.add(self._blob_names[bid])
                else:
                    self._bottom_need_backward[lid][j] = False
                if not self._bottom_need_backward[lid][j]:
                    skip.add(self._blob_names[bid])

    # -- pycaffe surface ------------------------------------------------
    @functools.cached_property
    def blobs(self):
        # made once, as pycaffe does: the blobs are fixed once the net is built
        return collections.OrderedDict(zip(self._blob_names, self._blobs))

    @property
    def layers(self):
        return [getattr(l, 'impl', l) for l in self._layers]

    @property
    def layer_dict(self):
        return collections.OrderedDict(zip(self._layer_names, self.layers))

    @property
    def params(self):
        return collections.OrderedDict((n, l.blobs) for n, l in zip(self._layer_names, self._layers)
                                       if len(l.blobs))

    @property
    def inputs(self):
        return [self._blob_names[i] for i in self._input_ids]

    @property
    def outputs(self):
        return [self._blob_names[i] for i in self._output_ids]

    @property
    def blob_loss_weights(self):
        return collections.OrderedDict(zip(self._blob_names, self._blob_loss_weights))

    @property
    def bottom_names(self):
        return collections.OrderedDict((n, [self._blob_names[b] for b in ids])
                                       for n, ids in zip(self._layer_names, self._bottom_ids))

    @property
    def top_names(self):
        return collections.OrderedDict((n, [self._blob_names[t] for t in ids])
                                       for n, ids in zip(self._layer_names, self._top_ids))

    def _layer_id(self, name):
        try:
            return self._layer_index[name]
        except KeyError:
            raise NetError("net '%s' has no layer '%s'" % (self.name, name)) from None

    def _follow_mode(self):
        """Move the net to the device the global mode selects, like Caffe's SyncedMemory."""
        dev = _device.current()
        if dev != self._device:
            self._device = dev
            for b in self._blobs + self._params:
                b.to(dev)
            for layer in self._layers:
                layer.device = dev

    def _forward(self, start, end):
        """Run layers ``start..end`` (inclusive); return the weighted loss."""
        return self._weighted_loss(self._launch_forward(start, end))

    def _launch_forward(self, start, end):
        """Run layers ``start..end`` without waiting for the device; return the loss tops
        written, whose host copies are under way (read them with ``_weighted_loss``)."""
        self._follow_mode()
        losses = []
        layers, bottoms, tops, loss_tops = self._layers, self._bottoms, self._tops, self._loss_tops
        mixed = _device.compute_dtype() != torch.float32
        relu_after = self._relu_after
        hooks = self._hooks['before_forward'] or self._hooks['after_forward']
        for i in range(start, end + 1):
            layer, b, t = layers[i], bottoms[i], tops[i]
            if hooks:
                self._run_hooks('before_forward', i)
            if relu_after[i]:
                layer.fuse_relu = i < end and not hooks  # hooks see each layer's own output
            elif i > start and relu_after[i - 1] and layers[i - 1].relu_applied:
                continue  # the convolution before applied this ReLU
            if mixed and not layer.low_precision:
                for blob in b:
                    blob.to_float32()
            layer.reshape(b, t)
            layer.forward(b, t)
            for j in loss_tops[i]:
                t[j].start_download()
                losses.append(t[j])
            if hooks:
                self._run_hooks('after_forward', i)
        return losses

    def _run_hooks(self, when, i):
        for hook in self._hooks[when]:
            hook(i)

    @staticmethod
    def _weighted_loss(blobs):
        """The sum over loss tops of data . diff (the diff holds the loss weight), in
        float32 as Caffe adds it up; waits for those tops only."""
        loss = np.float32(0)
        for blob in blobs:
            loss += np.dot(blob.read_data().ravel(), blob.read_diff().ravel())
        return float(loss)

    def _backward(self, start, end):
        self._follow_mode()
        mixed = _device.compute_dtype() != torch.float32
        hooks = self._hooks['before_backward'] or self._hooks['after_backward']
        for i in range(start, end - 1, -1):
            if hooks:
                self._run_hooks('before_backward', i)
            if self._layer_need_backward[i]:
                layer = self._layers[i]
                if mixed and not layer.low_precision:
                    for blob in self._tops[i] + self._bottoms[i]:
                        blob.to_float32()
                layer.backward(self._tops[i], self._bottom_need_backward[i], self._bottoms[i])
            if hooks:
                self._run_hooks('after_backward', i)

    def before_forward(self, hook):
        """Call ``hook(layer_index)`` before each layer's forward (Caffe's Net callbacks)."""
        self._hooks['before_forward'].append(hook)

    def after_forward(self, hook):
        self._hooks['after_forward'].append(hook)

    def before_backward(self, hook):
        self._hooks['before_backward'].append(hook)

    def after_backward(self, hook):
        self._hooks['after_backward'].append(hook)

    def _fill(self, call, what, names, field, arrays):
        """Write keyword ``arrays`` into the ``field`` of blobs ``names`` (all of them, batch-sized)."""
        if not arrays:
            return
        if set(arrays) != set(names):
            raise NetError('%s: keyword arrays %s do not match the net %s %s'
                           % (call, sorted(arrays), what, sorted(names)))
        for name, value in arrays.items():
            blob = self.blobs[name]
            if np.shape(value)[0] != blob.shape[0]:
                raise NetError("%s: '%s' has batch size %d, the blob %d"
                               % (call, name, np.shape(value)[0], blob.shape[0]))
            getattr(blob, field)[...] = value

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """Run layers ``start``..``end`` (names, inclusive); keyword arrays fill the inputs.

        Returns {blob: data} for the net's outputs, or the tops of layer ``end`` when
        it is given, and the blobs named in ``blobs``."""
        start_ind = self._layer_id(start) if start is not None else 0
        if end is not None:
            end_ind = self._layer_id(end)
            outputs = set(self.top_names[end] + list(blobs or []))
        else:
            end_ind = len(self._layers) - 1
            outputs = set(self.outputs + list(blobs or []))
        self._fill('forward', 'inputs', self.inputs, 'data', kwargs)
        self._forward(start_ind, end_ind)
        return {out: self.blobs[out].data for out in outputs}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """Backpropagate from layer ``start`` down to ``end``; keyword arrays fill the
        outputs' diffs. Returns {blob: diff} for the net's inputs, or the bottoms of
        layer ``end`` when it is given, and the blobs named in ``diffs``."""
        start_ind = self._layer_id(start) if start is not None else len(self._layers) - 1
        if end is not None:
            end_ind = self._layer_id(end)
            outputs = set(self.bottom_names[end] + list(diffs or []))
        else:
            end_ind = 0
            outputs = set(self.inputs + list(diffs or []))
        self._fill('backward', 'outputs', self.outputs, 'diff', kwargs)
        self._backward(start_ind, end_ind)
        return {out: self.blobs[out].diff for out in outputs}

    def forward_all(self, blobs=None, **kwargs):
        """``forward`` over inputs of any length, a batch at a time; returns {blob: array}."""
        outs = collections.defaultdict(list)
        for batch in self._batches(kwargs):
            for name, value in self.forward(blobs=blobs, **batch).items():
                outs[name].extend(value.copy())
        return self._unpad(outs, kwargs)

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """``forward`` then ``backward`` a batch at a time; keyword arrays are inputs and
        output diffs. Returns ({blob: data}, {blob: diff})."""
        inputs = {k: v for k, v in kwargs.items() if k in self.inputs}
        top_diffs = {k: v for k, v in kwargs.items() if k in self.outputs}
        outs, grads = collections.defaultdict(list), collections.defaultdict(list)
        for fb, bb in zip(self._batches(inputs), self._batches(top_diffs)):
            for name, value in self.forward(blobs=blobs, **fb).items():
                outs[name].extend(value.copy())
            for name, value in self.backward(diffs=diffs, **bb).items():
                grads[name].extend(value.copy())
        return self._unpad(outs, inputs), self._unpad(grads, inputs)

    def _batches(self, arrays):
        """Split {blob: array} into batch-sized pieces, the last one padded with zeros."""
        if not arrays:
            yield {}  # nothing to split: one pass, as pycaffe makes
            return
        num = len(next(iter(arrays.values())))
        size = self.blobs[next(iter(arrays))].shape[0]
        for start in range(0, num, size):
            batch = {}
            for name, value in arrays.items():
                piece = np.asarray(value[start:start + size])
                if len(piece) < size:
                    pad = np.zeros((size - len(piece),) + piece.shape[1:], piece.dtype)
                    piece = np.concatenate([piece, pad])
                batch[name] = piece
            yield batch

    @staticmethod
    def _unpad(outs, arrays):
        """The collected batches as arrays, the padding of the last batch dropped."""
        num = len(next(iter(arrays.values()))) if arrays else None
        return {name: np.asarray(values)[:num] for name, values in outs.items()}

    def set_input_arrays(self, data, labels):
        """pycaffe's: feed the MemoryData layer that comes first (arrays are not copied)."""
        from .layers.memory_data import set_input_arrays
        set_input_arrays(self, data, labels)

    def reshape(self):
        """Propagate input shape changes through every layer."""
        self._follow_mode()
        for layer, b, t in zip(self._layers, self._bottoms, self._tops):
            layer.reshape(b, t)

    def clear_param_diffs(self):
        for p in self.learnable_params:
            p.clear_diff()

    def copy_from(self, weights):
        """Load parameters by layer name from a .caffemodel, or HDF5 weights when the
        name ends in .h5 (Caffe's CopyTrainedLayersFrom)."""
        from ..formats import hdf5, read_weights
        if hdf5.is_hdf5(weights):
            return self.load_hdf5(weights)
        source = read_weights(os.fspath(weights))
        self.copy_from_proto(source, os.fspath(weights))

    def load_hdf5(self, filename):
        """Load parameters by layer name from HDF5 weights (Caffe's CopyTrainedLayersFromHDF5)."""
        from ..formats import hdf5
        where = os.fspath(filename)
        for name, values in hdf5.read_params(where).items():
            if name not in self._layer_index:
                continue
            lid = self._layer_index[name]
            target = self._layers[lid].blobs
            if len(values) > len(target) or not set(values) <= set(range(len(target))):
                raise NetError("%s: layer '%s' has %d parameter blobs, the net's layer %d"
                               % (where, name, len(values), len(target)))
            for j, t in enumerate(target):
                if j not in values:
                    if self._param_owners[self._net_param_id(lid, j)] == -1:
                        raise NetError("%s: layer '%s' lacks parameter %d" % (where, name, j))
                    continue  # shared: the owner's file entry holds it
                if values[j].shape != tuple(t.shape):
                    raise NetError("%s: cannot copy param %d of layer '%s': shape %s in the file, "
                                   "%s in the net" % (where, j, name, values[j].shape, t.shape))
                t.data[...] = values[j]

    def save_hdf5(self, filename, write_diff=False):
        """Write the parameters as Caffe's HDF5 weights (atomically)."""
        from ..formats import hdf5
        layers = [(name, [(b.read_data(), b.read_diff() if write_diff else None,
                           self._param_owners[self._net_param_id(lid, j)] == -1)
                          for j, b in enumerate(layer.blobs)])
                  for lid, (name, layer) in enumerate(zip(self._layer_names, self._layers))]
        hdf5.write_params(os.fspath(filename), layers, write_diff)

    def _net_param_id(self, lid, pid):
        return self._param_layer.index((lid, pid))

    def copy_from_proto(self, source, where='<NetParameter>'):
        from ..io import blobproto_to_array, blob_shape, shape_equals
        for src in source.layer:
            if src.name not in self._layer_index:
                continue
            target = self._layers[self._layer_index[src.name]].blobs
            if len(target) != len(src.blobs):
                raise NetError("%s: layer '%s' has %d parameter blobs, the net's layer %d "
                               "(rename the layer to learn it from scratch)"
                               % (where, src.name, len(src.blobs), len(target)))
            for j, (t, s) in enumerate(zip(target, src.blobs)):
                if not shape_equals(s, t.shape):
                    raise NetError("%s: cannot copy param %d of layer '%s': shape %s in the file, "
                                   "%s in the net (rename the layer to learn it from scratch)"
                                   % (where, j, src.name, blob_shape(s), t.shape))
                values = blobproto_to_array(s)
                bad = values.size - np.count_nonzero(np.isfinite(values))
                if bad:  # Caffe loads them silently; training or inference would then give NaN
                    warnings.warn("%s: param %d of layer '%s' holds %d NaN or infinite values of %d"
                                  % (where, j, src.name, bad, values.size), stacklevel=3)
                t.data[...] = values.reshape(t.shape)

    def share_with(self, other):
        """Share parameter memory with layers of the same name in ``other``."""
        for name, layer in zip(other._layer_names, other._layers):
            if name not in self._layer_index:
                continue
            target = self._layers[self._layer_index[name]].blobs
            if len(target) != len(layer.blobs):
                raise NetError("share_with: layer '%s' has %d parameter blobs here, %d there"
                               % (name, len(target), len(layer.blobs)))
            for j, (t, s) in enumerate(zip(target, layer.blobs)):
                if t.shape != s.shape:
                    raise NetError("share_with: param %d of layer '%s' has shape %s here, %s there"
                                   % (j, name, t.shape, s.shape))
                t.share_data(s)

    def to_proto(self, write_diff=False):
        """The net with its parameters as a NetParameter (Caffe's Net::ToProto)."""
        from ..io import array_to_blobproto
        out = caffe_pb2.NetParameter()
        out.name = self.name
        for layer in self._layers:
            lp = out.layer.add()
            lp.CopyFrom(layer.param)
            del lp.blobs[:]
            for b in layer.blobs:
                lp.blobs.add().CopyFrom(array_to_blobproto(b.data, b.diff if write_diff else None))
        return out

    def save(self, filename, write_diff=False):
        """Write the parameters as a binary .caffemodel (atomically)."""
        from ..formats import binaryproto
        binaryproto.write(os.fspath(filename), self.to_proto(write_diff))
