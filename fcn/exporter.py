"""Export a Caffe net to plain PyTorch (``model.py`` + ``weights.pt``) or to ONNX.

    fcn export --deploy NET.prototxt --weights W.caffemodel --format onnx --out DIR

``model.py`` defines ``Net``, an ``nn.Module`` that imports only torch: one attribute
per learned Caffe layer, named after it, and a straight-line ``forward`` with one line
per layer and variables named after the Caffe blobs. ``weights.pt`` is its state_dict
(``torch.load(path, weights_only=True)``). ONNX is that module traced, with the batch
and spatial axes dynamic. Each layer's code computes what the engine's layer computes.
"""
import argparse
import contextlib
import importlib.util
import keyword
import os
import re
import shutil
import sys
import tempfile
import warnings

import numpy as np
import torch

from torchcaffe import TEST, formats
from torchcaffe.proto import caffe_pb2

FORMATS = ('pytorch', 'onnx')
OPSET = 17
# Train-net layers with no meaning in a deploy net: dropped, with a note.
DROPPED = ('SoftmaxWithLoss', 'SigmoidCrossEntropyLoss', 'EuclideanLoss', 'Accuracy', 'Silence')
# Layers that read data: their tops become the model's inputs (a Python layer without bottoms too).
DATA = ('Data', 'ImageData', 'HDF5Data', 'WindowData', 'MemoryData', 'DummyData')
# The size a train net's data layer is given while the engine sets the net up.
SETUP_SIZE = 224

P, E = caffe_pb2.PoolingParameter, caffe_pb2.EltwiseParameter

# Functions model.py defines when its forward uses them (no torch op does what Caffe does).
HELPERS = {
    'crop': '''
def crop(x, ref, axis, offsets):
    """Caffe's Crop: x cut to ref's shape from `axis` on, starting at `offsets`."""
    for i, offset in enumerate(offsets):
        x = x.narrow(axis + i, offset, ref.shape[axis + i])
    return x
''',
    'pool_padded': '''
def pool_padded(x, kernel, stride, pad, extra, average):
    """Caffe's pooling where the padding exceeds half the kernel (torch's limit): pad
    explicitly, `extra` more cells at the end so that floor-mode windows are Caffe's."""
    (ph, pw), (eh, ew) = pad, extra
    padded = F.pad(x, (pw, pw + ew, ph, ph + eh), value=0.0 if average else float('-inf'))
    if not average:
        return F.max_pool2d(padded, kernel, stride)
    # Caffe divides by the window clipped to the padded input: pool a map of ones the same way
    ones = F.pad(F.pad(torch.ones_like(x[:1, :1]), (pw, pw, ph, ph), value=1.0), (0, ew, 0, eh))
    return F.avg_pool2d(padded, kernel, stride) / F.avg_pool2d(ones, kernel, stride)
''',
    'lrn_within_channel': '''
def lrn_within_channel(x, size, alpha, beta):
    """Caffe's WITHIN_CHANNEL LRN: x (1 + alpha * mean of x^2 over size x size, zero padded)^-beta."""
    return x * (1 + alpha * F.avg_pool2d(x * x, size, 1, (size - 1) // 2)) ** -beta
''',
}


def export(net, weights=None, out=None, format='pytorch', overwrite=False):
    """Write ``net`` to the directory ``out`` and return the paths written.

    ``net`` is a prototxt path (with its ``weights``; a train net loses its data and
    loss layers, with a warning), an ``fcn.Model`` or a torchcaffe Net. ``format``
    'pytorch' writes model.py and weights.pt, 'onnx' writes model.onnx, whose inputs and
    outputs are the Caffe blobs (an input changed in place is output as <name>_out). A non-empty
    ``out`` is replaced only with ``overwrite``; on any error nothing is written.
    """
    if format not in FORMATS:
        raise ValueError('format must be one of %s, not %r' % (', '.join(FORMATS), format))
    if format == 'onnx' and importlib.util.find_spec('onnx') is None:
        raise ImportError("format='onnx' needs the onnx package: pip install 'fcn[export]'")
    if out is None:
        raise ValueError('give the output directory: export(net, weights, out=...)')
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not (os.path.isdir(out) and (overwrite or not os.listdir(out))):
        raise FileExistsError('%s exists%s: choose another output directory, or replace it (--overwrite, '
                              'overwrite=True)'
                              % (out, '' if os.path.isdir(out) else ' and is not a directory'))
    net, about, notes = _engine_net(net, weights)
    source, state, io = generate(net, **about, notes=notes)
    if notes:
        warnings.warn('export: ' + '; '.join(notes), stacklevel=2)
    with _staging(out) as stage:
        if format == 'pytorch':
            _write(os.path.join(stage, 'model.py'), source)
            torch.save(state, os.path.join(stage, 'weights.pt'))
            names = ['model.py', 'weights.pt']
        else:
            _onnx(source, state, io, stage)
            names = ['model.onnx']
    return [os.path.join(out, n) for n in names]


def _engine_net(net, weights):
    """(engine Net, {origin, preprocessing}, notes) for what ``export`` accepts."""
    import torchcaffe
    if isinstance(net, (str, os.PathLike)):
        param = formats.read_net(net)  # upgraded: V1 nets and `input:` fields read too
        param.state.phase = TEST
        from torchcaffe.engine.net import filter_net
        param = filter_net(param)
        _check_types(param.layer)
        source = None if weights is None else formats.read_weights(os.fspath(weights))  # read once: it may be 500 MB
        param, notes = _as_deploy(param, source)
        engine = torchcaffe.Net(param, TEST)
        if source is not None:
            engine.copy_from_proto(source, os.fspath(weights))
        origin = '%s, weights %s' % (os.fspath(net), 'none (fillers)' if weights is None else os.fspath(weights))
        return engine, {'origin': origin}, notes
    if weights is not None:
        raise ValueError('weights go with a prototxt path; this net has its own')
    model, engine = net, getattr(net, 'net', net)
    if not isinstance(engine, torchcaffe.Net):
        raise ValueError('export needs a prototxt path, an fcn.Model or a torchcaffe Net; a Model '
                         'loaded with the caffe backend cannot be exported (load it with the torch one)')
    about = {'origin': '%s, weights as loaded' % (engine._source or 'a NetParameter')}
    if hasattr(model, 'mean'):
        about['preprocessing'] = '%s with the mean %s subtracted' % (
            model.channel_order, ', '.join('%g' % m for m in model.mean))
    return engine, about, []


def _is_data(layer):
    return layer.type in DATA or (layer.type == 'Python' and not len(layer.bottom))


def _check_types(layers):
    """Raise the export's error for the first layer it cannot write."""
    for layer in layers:
        if layer.type not in LAYERS and layer.type not in DROPPED and layer.type != 'Input' \
                and not _is_data(layer):
            raise ValueError("layer '%s' (%s): cannot be exported; supported: %s"
                             % (layer.name, layer.type, ', '.join(sorted(LAYERS))))


def _as_deploy(param, weights):
    """``param`` without loss layers and with Input layers for data layers (sized by the
    NetParameter ``weights``), and notes saying so: the engine can set it up without data
    and labels."""
    kept = [l for l in param.layer if l.type not in DROPPED and not _is_data(l)]
    if len(kept) == len(param.layer):
        return param, []
    notes = ["dropped layer '%s' (%s)" % (l.name, l.type) for l in param.layer if l.type in DROPPED]
    read = {b for l in kept for b in l.bottom}
    inputs = [t for l in param.layer if _is_data(l) for t in l.top if t in read]
    out = caffe_pb2.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    if inputs:
        data = out.layer.add(name='input', type='Input', top=inputs)
        for top in inputs:
            data.input_param.shape.add(dim=[1, _channels(top, kept, weights), SETUP_SIZE, SETUP_SIZE])
        notes.append('data layer(s) %s replaced: %s the model input'
                     % (', '.join(l.name for l in param.layer if _is_data(l)), ', '.join(inputs)))
    out.layer.extend(kept)
    return out, notes


def _channels(top, layers, weights):
    """The channels of data top ``top``: what the first Convolution reading it takes."""
    reader = next(l for l in layers if top in l.bottom)
    if reader.type != 'Convolution' or weights is None:
        raise ValueError("data top '%s' feeds layer '%s' (%s): its channels are unknown without the "
                         "weights of a Convolution; export the deploy net" % (top, reader.name, reader.type))
    blobs = {l.name: l.blobs for l in weights.layer}
    if not blobs.get(reader.name):
        raise ValueError("the weights have no layer '%s' to size data top '%s' by" % (reader.name, top))
    b = blobs[reader.name][0]
    dims = list(b.shape.dim) if b.HasField('shape') else [b.num, b.channels, b.height, b.width]
    return dims[1] * reader.convolution_param.group


@contextlib.contextmanager
def _staging(out):
    """A fresh directory beside ``out`` that becomes ``out`` if the block succeeds."""
    parent = os.path.dirname(out)
    base = parent
    while not os.path.isdir(base):  # stage in the nearest existing directory: same file system
        base = os.path.dirname(base)
    stage = tempfile.mkdtemp(prefix='.%s.' % os.path.basename(out), dir=base)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(stage, 0o777 & ~mask)  # the directory the user gets: mkdtemp's is private
    try:
        yield stage
        os.makedirs(parent, exist_ok=True)
        old = None
        if os.path.isdir(out):
            old = tempfile.mkdtemp(prefix='.%s.old.' % os.path.basename(out), dir=parent)
            os.rename(out, os.path.join(old, 'out'))
        os.rename(stage, out)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def _onnx(source, state, io, stage):
    """Trace the generated module into ``stage``/model.onnx and check the file."""
    import onnx
    path = os.path.join(stage, 'model.py')
    _write(path, source)
    spec = importlib.util.spec_from_file_location('fcn_exported_model', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the file just written, nothing else
    os.remove(path)
    with torch.device('meta'):  # no random init of weights about to be replaced
        model = module.Net()
    model.load_state_dict(state, assign=True)
    inputs, shapes, outputs = io
    # ONNX names each value once: an input changed in place is output as <name>_out
    names = [n + '_out' if n in inputs else n for n in outputs]
    axes = {name: {0: 'batch', **{i: '%s_%d' % (name, i) for i in range(2, len(shapes[blob]))}}
            for name, blob in zip(inputs + names, inputs + outputs)}
    target = os.path.join(stage, 'model.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the TorchScript exporter's deprecation notice
        # dynamo=False: the TorchScript exporter keeps Caffe's crops dynamic without onnxscript
        torch.onnx.export(model.eval(), tuple(torch.zeros(shapes[n]) for n in inputs), target,
                          input_names=inputs, output_names=names, opset_version=OPSET,
                          dynamic_axes=axes, dynamo=False)
    onnx.checker.check_model(target)


# -- code generation ----------------------------------------------------------

def _identifier(name, taken):
    """``name`` as a Python identifier not in ``taken`` (which it joins)."""
    base = re.sub(r'[^0-9A-Za-z_]', '_', name)
    if not base or base[0].isdigit():
        base = '_' + base
    ident, i = base, 2
    while ident in taken or keyword.iskeyword(ident):
        ident, i = '%s_%d' % (base, i), i + 1
    taken.add(ident)
    return ident


def _num(v):
    """A float32 parameter as the shortest literal that reads back as the same float32."""
    return repr(float(str(np.float32(v))))


def _ints(values):
    """One int for equal values (torch repeats it per axis), else a tuple."""
    values = [int(v) for v in values]
    return str(values[0]) if len(set(values)) == 1 else '(%s)' % ', '.join(map(str, values))


def _expand(expr, k):
    """``expr`` with ``k`` trailing unit axes: a factor broadcast like Caffe's (1, dim, 1)."""
    return expr if k == 0 else '%s[..., %s]' % (expr, ', '.join(['None'] * k))


class _Writer:
    """Collects model.py's __init__ lines, helpers and state_dict for one net."""

    def __init__(self, net):
        self.net = net
        self.init, self.state, self.helpers = [], {}, set()
        self.attrs = set(dir(torch.nn.Module())) | {'inputs', 'outputs'}  # never shadow Net's own

    def shape(self, name):
        return tuple(self.net.blobs[name].shape)

    def module(self, layer, code, **tensors):
        """``self.<layer>`` = the nn module ``code``, loaded with ``tensors``."""
        attr = _identifier(layer.name, self.attrs)
        self.init.append('self.%s = %s%s' % (attr, code, _comment(layer.name, attr)))
        self.state.update(('%s.%s' % (attr, k), v) for k, v in tensors.items())
        return 'self.' + attr

    def parameter(self, layer, array, suffix=''):
        """``self.<layer><suffix>`` = an nn.Parameter holding ``array``."""
        attr = _identifier(layer.name + suffix, self.attrs)
        shape = ', '.join(map(str, array.shape)) if array.ndim else '()'
        self.init.append('self.%s = nn.Parameter(torch.empty(%s))%s'
                         % (attr, shape, _comment(layer.name, attr)))
        self.state[attr] = array
        return 'self.' + attr


def _tensor(array, shape=None):
    t = torch.from_numpy(np.array(array, np.float32))
    return t.reshape(shape) if shape is not None else t


def _comment(name, shown):
    return '' if name == shown else '  # ' + _text(name)


def _text(s):
    """``s`` safe in a comment or a docstring: escapes, no newline, no closing quotes."""
    return repr(str(s))[1:-1].replace('"', '\\"')


def _conv(w, layer, x):
    kernel, n = layer.kernel, len(layer.kernel)
    if not 1 <= n <= 3:
        raise _unsupported(layer, '%d spatial axes' % n)
    cls = ('nn.ConvTranspose%dd' if layer.transposed else 'nn.Conv%dd') % n
    args = [str(layer.channels), str(layer.num_output), _ints(kernel)]
    for key, values, default in (('stride', layer.stride, 1), ('padding', layer.pad, 0),
                                 ('dilation', layer.dilation, 1)):
        if any(v != default for v in values):
            args.append('%s=%s' % (key, _ints(values)))
    if layer.group != 1:
        args.append('groups=%d' % layer.group)
    if not layer.bias_term:
        args.append('bias=False')
    c, o, g = layer.channels, layer.num_output, layer.group
    wshape = [c, o // g] + kernel if layer.transposed else [o, c // g] + kernel
    tensors = {'weight': _tensor(layer.blobs[0].data, wshape)}
    if layer.bias_term:
        tensors['bias'] = _tensor(layer.blobs[1].data, [o])
    m = w.module(layer, '%s(%s)' % (cls, ', '.join(args)), **tensors)
    return ['%s(%s)' % (m, b) for b in x]


def _pool(w, layer, x):
    if len(layer.param.top) > 1:
        raise _unsupported(layer, 'its second top (the MAX mask)')
    average = layer.method == P.AVE
    if layer.global_:
        return ['%s.%s((2, 3), keepdim=True)' % (x[0], 'mean' if average else 'amax')]
    k, s, p = layer.kernel, layer.stride, layer.pad
    if all(pd <= kd // 2 for pd, kd in zip(p, k)):
        # torch's windows, ceil rule and AVE divisor (count_include_pad) are Caffe's
        args = [x[0], _ints(k), _ints(s)] + (['padding=%s' % _ints(p)] if any(p) else []) \
            + (['ceil_mode=True'] if layer.ceil else [])
        return ['F.%s(%s)' % ('avg_pool2d' if average else 'max_pool2d', ', '.join(args))]
    # Caffe's windows: ceil's last window, unless it starts in the padding (pad > 0 here, < kernel)
    extra = [min(sd - 1, kd - pd - 1) if layer.ceil else 0 for kd, sd, pd in zip(k, s, p)]
    w.helpers.add('pool_padded')
    return ['pool_padded(%s, %s, %s, %s, %s, %s)' % (x[0], tuple(k), tuple(s), tuple(p), tuple(extra), average)]


def _crop(w, layer, x):
    p = layer.param.crop_param
    ndim = len(w.shape(layer.param.bottom[0]))
    axis = _axis(p.axis, ndim)
    offsets = list(p.offset) or [0]
    offsets = offsets * (ndim - axis) if len(offsets) == 1 else offsets
    w.helpers.add('crop')
    return ['crop(%s, %s, %d, %s)' % (x[0], x[1], axis, tuple(offsets))]


def _eltwise(w, layer, x):
    if layer.op == E.SUM:
        return [' + '.join(b if c == 1 else '%s * %s' % (b, _num(c)) for b, c in zip(x, layer.coeff))]
    if layer.op == E.PROD:
        return [' * '.join(x)]
    y = x[0]
    for b in x[1:]:
        y = 'torch.maximum(%s, %s)' % (y, b)
    return [y]


def _concat(w, layer, x):
    return ['torch.cat((%s), %d)' % (', '.join(x) + (',' if len(x) == 1 else ''), layer.axis)]


def _factor(w, layer, x, blob=0, suffix=''):
    """Scale's or Bias's factor: bottom 1, else param ``blob``, broadcast over bottom 0
    from the layer's axis (the engine's (1, dim, 1) view)."""
    shape = w.shape(layer.param.bottom[0])
    end = len(shape) if layer.nax == -1 else layer.axis + layer.nax
    if len(x) > 1 and not suffix:
        return _expand(x[1], len(shape) - end)
    param = w.parameter(layer, _tensor(layer.blobs[blob].data, shape[layer.axis:end]), suffix)
    return _expand(param, len(shape) - end)


def _scale(w, layer, x):
    y = '%s * %s' % (x[0], _factor(w, layer, x))
    if layer.param.scale_param.bias_term:
        y += ' + ' + _factor(w, layer, x, layer.bias_index, '_bias')
    return [y]


def _bias(w, layer, x):
    return ['%s + %s' % (x[0], _factor(w, layer, x))]


def _lrn(w, layer, x):
    if layer.across:
        return ['F.local_response_norm(%s, %d, %s, %s, %s)'
                % (x[0], layer.n, _num(layer.alpha), _num(layer.beta), _num(layer.k))]
    w.helpers.add('lrn_within_channel')  # ONNX's LRN is across channels only
    return ['lrn_within_channel(%s, %d, %s, %s)' % (x[0], layer.n, _num(layer.alpha), _num(layer.beta))]


def _relu(w, layer, x):
    slope = layer.param.relu_param.negative_slope
    return ['F.relu(%s)' % x[0] if slope == 0 else 'F.leaky_relu(%s, %s)' % (x[0], _num(slope))]


def _power(w, layer, x):
    y = x[0] if layer.scale == 1 else '%s * %s' % (x[0], _num(layer.scale))
    if layer.shift != 0:
        y = '%s + %s' % (y, _num(layer.shift))
    if layer.power != 1:
        y = '(%s) ** %s' % (y, _num(layer.power)) if y != x[0] else '%s ** %s' % (y, _num(layer.power))
    return [y]


def _inner_product(w, layer, x):
    weight = _tensor(layer.blobs[0].data, [layer.k, layer.n] if layer.transpose else [layer.n, layer.k])
    tensors = {'weight': weight.t().contiguous() if layer.transpose else weight}
    if layer.bias_term:
        tensors['bias'] = _tensor(layer.blobs[1].data, [layer.n])
    m = w.module(layer, 'nn.Linear(%d, %d%s)' % (layer.k, layer.n, '' if layer.bias_term else ', bias=False'),
                 **tensors)
    ndim = len(w.shape(layer.param.bottom[0]))
    flat = x[0] if layer.axis == ndim - 1 else '%s.flatten(%d)' % (x[0], layer.axis)
    return ['%s(%s)' % (m, flat)]


def _axis(axis, ndim):
    return axis + ndim if axis < 0 else axis


def _flatten(w, layer, x):
    p = layer.param.flatten_param
    ndim = len(w.shape(layer.param.bottom[0]))
    start, end = _axis(p.axis, ndim), _axis(p.end_axis, ndim)
    return ['%s.flatten(%d%s)' % (x[0], start, '' if end == ndim - 1 else ', %d' % end)]


def _reshape(w, layer, x):
    p = layer.param.reshape_param
    ndim = len(w.shape(layer.param.bottom[0]))
    start = p.axis if p.axis >= 0 else ndim + p.axis + 1
    end = ndim if p.num_axes == -1 else start + p.num_axes
    kept = ['%s.shape[%d]' % (x[0], i) for i in range(ndim)]  # sizes at run time: dynamic in ONNX
    new = [kept[start + i] if d == 0 else str(d) for i, d in enumerate(p.shape.dim)]
    return ['%s.reshape(%s)' % (x[0], ', '.join(kept[:start] + new + kept[end:]))]


ALIAS = object()  # a layer whose tops are its bottom under other names

LAYERS = {
    'Convolution': _conv, 'Deconvolution': _conv, 'Pooling': _pool, 'Crop': _crop,
    'Eltwise': _eltwise, 'Concat': _concat, 'Scale': _scale, 'Bias': _bias, 'LRN': _lrn,
    'ReLU': _relu, 'Dropout': lambda w, layer, x: [x[0]],
    'Softmax': lambda w, layer, x: ['F.softmax(%s, %d)' % (x[0], layer.axis)],
    'InnerProduct': _inner_product, 'Flatten': _flatten, 'Reshape': _reshape,
    'Split': lambda w, layer, x: ALIAS,
    'Sigmoid': lambda w, layer, x: ['torch.sigmoid(%s)' % x[0]],
    'TanH': lambda w, layer, x: ['torch.tanh(%s)' % x[0]],
    'Power': _power,
}


def _unsupported(layer, what):
    return ValueError("layer '%s' (%s): cannot be exported: %s" % (layer.name, layer.type, what))


def generate(net, origin='', preprocessing='BGR with the mean subtracted', notes=()):
    """(model.py source, its state_dict, (input names, {name: shape}, output names)) for
    the engine Net ``net``: what export writes, in memory."""
    _check_types(l.param for l in net._layers)
    w = _Writer(net)
    names = {'self', 'torch', 'F', 'nn'} | set(HELPERS)
    var, inputs, lines, notes = {}, [], [], list(notes)
    layers = [l for l in net._layers if l.type not in DROPPED]
    notes += ["dropped layer '%s' (%s)" % (l.name, l.type) for l in net._layers if l.type in DROPPED]
    # inputs: the Input and data tops that kept layers read (not a label only a loss read)
    read = {b for l in layers if l.type != 'Input' and not _is_data(l.param) for b in l.param.bottom}
    available = set()
    for layer in layers:
        p = layer.param
        if p.type == 'Input' or _is_data(p):
            for top in [t for t in p.top if t in read]:
                var[top] = _identifier(top, names)
                inputs.append(top)
            continue
        x = [var[b] for b in p.bottom]
        available.difference_update(p.bottom)
        available.update(p.top)
        exprs = LAYERS[p.type](w, layer, x)
        if exprs is ALIAS:
            var.update((t, x[0]) for t in p.top)
            continue
        for j, (top, expr) in enumerate(zip(p.top, exprs)):
            if j >= len(p.bottom) or top != p.bottom[j]:  # a new blob (in place keeps the bottom's)
                var[top] = _identifier(top, names)
            if expr == var[top]:
                lines.append('# %s (%s): identity' % (_text(p.name), p.type))
            else:
                lines.append('%s = %s%s' % (var[top], expr, _comment(p.name, var[top])))
    outputs = sorted(available)  # the engine's (and Caffe's) order
    if not outputs:
        raise ValueError('net %r computes nothing once its loss layers are dropped' % net.name)
    shapes = {n: w.shape(n) for n in inputs + outputs}
    if len(outputs) == 1:
        lines.append('return %s' % var[outputs[0]])
    else:
        lines.append('return {%s}' % ', '.join('%r: %s' % (n, var[n]) for n in outputs))
    header = _header(net, origin, preprocessing, notes, [var[n] for n in inputs], inputs, outputs, shapes)
    source = _source(header, w, [var[n] for n in inputs], inputs, outputs, lines)
    return source, dict(w.state), (inputs, shapes, outputs)


def _dims(shape):
    return ' x '.join(map(str, shape))


def _header(net, origin, preprocessing, notes, args, inputs, outputs, shapes):
    """model.py's docstring: where the net came from, what goes in and out, how to use it."""
    text = ['Caffe net%s exported by fcn.export: a plain PyTorch module needing only torch.'
            % (' ' + net.name if net.name else ''), '', 'From: %s.' % origin]
    text += ['Note: %s.' % n for n in notes]
    text += ['Input %s: float32, %s when exported (batch and spatial sizes may change); %s, as the '
             'Caffe net takes it.' % (n, _dims(shapes[n]), preprocessing) for n in inputs]
    text += ['Output %s: %s for that input.' % (n, _dims(shapes[n])) for n in outputs]
    text = ['"""' + _text(text[0])] + [_text(t) for t in text[1:]]
    return text + ['', 'Use:', '    net = Net().eval()',
                   "    net.load_state_dict(torch.load('weights.pt', weights_only=True))",
                   '    with torch.no_grad():', '        out = net(%s)' % ', '.join(args), '"""']


def _source(header, w, args, inputs, outputs, lines):
    code = header + ['import torch', 'import torch.nn.functional as F', 'from torch import nn', '']
    code += [HELPERS[h].rstrip() + '\n' for h in sorted(w.helpers)]
    code += ['', 'class Net(nn.Module):',
             '    inputs = %r  # the Caffe blobs forward takes, in order' % (tuple(inputs),),
             '    outputs = %r  # the Caffe blobs it returns%s' % (tuple(outputs), '' if len(outputs) == 1
                                                                 else ', as a dict'),
             '', '    def __init__(self):', '        super().__init__()']
    code += ['        ' + l for l in w.init]
    code += ['', '    def forward(self, %s):' % ', '.join(args)]
    code += ['        ' + l for l in lines]
    return '\n'.join(code) + '\n'


# -- the command --------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description='Export a Caffe net as a plain PyTorch module (model.py and '
                                            'weights.pt, needing only torch) or as ONNX (model.onnx).')
    p.add_argument('--model', metavar='RUN', help='a run directory of fcn train or its model.json')
    p.add_argument('--deploy', help='the net prototxt (a deploy net; a train net loses its data and loss layers)')
    p.add_argument('--weights', help='its caffemodel, with --deploy')
    p.add_argument('--format', choices=FORMATS, default='pytorch',
                   help='pytorch: model.py (imports only torch) and weights.pt; onnx: model.onnx '
                        '(opset %d, batch and spatial sizes dynamic; needs the export extra)' % OPSET)
    p.add_argument('--out', required=True, help='output directory (new or empty)')
    p.add_argument('--overwrite', action='store_true', help='replace what --out holds')
    args = p.parse_args(argv)
    if args.model and (args.deploy or args.weights):
        p.error('give --model or --deploy and --weights, not both')
    if not args.model and not (args.deploy and args.weights):
        p.error('give --model RUN, or --deploy and --weights')
    return args


def main(argv=None):
    args = parse_args(argv)
    from fcn.card import CardError
    try:
        if args.model:
            import fcn
            net, weights = fcn.load(args.model, backend='torch'), None  # the card's mean and channel order
        else:
            net, weights = args.deploy, args.weights
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            paths = export(net, weights, args.out, args.format, args.overwrite)
    except (CardError, ImportError, OSError, ValueError) as e:
        sys.exit('export: %s' % e)
    for w in caught:
        print('note: %s' % w.message)
    print('wrote %s' % ', '.join(paths))
    if args.format == 'pytorch':
        print('use it: import sys; sys.path.insert(0, %r); from model import Net (its docstring says how)'
              % os.path.abspath(args.out))
