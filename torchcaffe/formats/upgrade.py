"""Upgrades of old Caffe nets and solvers to the current format, as Caffe's
upgrade_proto.cpp does when it reads them.

Nets went through three layer formats: V0 (``layers { layer { type: "conv" } }``,
with separate "padding" layers), V1 (``layers { type: CONVOLUTION blobs_lr: 1 }``)
and V2, the current ``layer { type: "Convolution" param { lr_mult: 1 } }``. Inputs
were once declared by ``input`` + ``input_dim``/``input_shape`` instead of an Input
layer. Caffe upgrades in this order: V0 -> V1, data-layer transformation fields,
V1 -> V2, input fields, BatchNorm params. Where Caffe aborts, or logs that it had
to drop a setting, these raise FormatError naming the file and the layer.
"""
import os

from ..errors import FormatError
from ..proto import caffe_pb2
from .prototxt import is_repeated

V1 = caffe_pb2.V1LayerParameter


def upgrade_net(net, source='<net>'):
    """Upgrade NetParameter ``net`` in place; return whether it changed.

    ``source`` (the file name) prefixes error messages.
    """
    steps = (_v0_to_v1, _data_transform_to_v1, _v1_to_v2, _input_fields_to_layer,
             _batch_norm_params)
    return any([step(net, source) for step in steps])  # a list: every step runs


def upgrade_solver(solver, source='<solver>'):
    """Turn the old ``solver_type`` enum into the ``type`` string; return whether it changed."""
    if not solver.HasField('solver_type'):
        return False
    if solver.HasField('type'):
        raise FormatError('%s: solver_type (old enum) and type (string) are both given; '
                          'keep only type' % source)
    solver.type = _SOLVER_TYPES[solver.solver_type]
    solver.ClearField('solver_type')
    return True


_SOLVER_TYPES = {0: 'SGD', 1: 'Nesterov', 2: 'AdaGrad', 3: 'RMSProp', 4: 'AdaDelta', 5: 'Adam'}


def upgrade_snapshot_prefix(solver, path):
    """Caffe's default ``snapshot_prefix``: the solver file's path without extension when
    unset; ``<prefix>/<solver file stem>`` when the prefix names an existing directory."""
    stem = os.path.splitext(os.fspath(path))[0]
    if not solver.HasField('snapshot_prefix'):
        solver.snapshot_prefix = stem
    elif os.path.isdir(solver.snapshot_prefix):
        solver.snapshot_prefix = os.path.join(solver.snapshot_prefix, os.path.basename(stem))


def _layer_error(source, layer_name, message):
    return FormatError('%s: layer "%s": %s' % (source, layer_name, message))


# --- V0 -> V1 ---------------------------------------------------------------------

_V0_TYPES = {
    'accuracy': V1.ACCURACY, 'bnll': V1.BNLL, 'concat': V1.CONCAT, 'conv': V1.CONVOLUTION,
    'data': V1.DATA, 'dropout': V1.DROPOUT, 'euclidean_loss': V1.EUCLIDEAN_LOSS,
    'flatten': V1.FLATTEN, 'hdf5_data': V1.HDF5_DATA, 'hdf5_output': V1.HDF5_OUTPUT,
    'im2col': V1.IM2COL, 'images': V1.IMAGE_DATA, 'infogain_loss': V1.INFOGAIN_LOSS,
    'innerproduct': V1.INNER_PRODUCT, 'lrn': V1.LRN,
    'multinomial_logistic_loss': V1.MULTINOMIAL_LOGISTIC_LOSS, 'pool': V1.POOLING,
    'relu': V1.RELU, 'sigmoid': V1.SIGMOID, 'softmax': V1.SOFTMAX,
    'softmax_loss': V1.SOFTMAX_LOSS, 'split': V1.SPLIT, 'tanh': V1.TANH,
    'window_data': V1.WINDOW_DATA,
}

_CONV_IP = ('conv', 'innerproduct')
_DATA_SOURCES = ('data', 'hdf5_data', 'images', 'window_data')
_V0_PARAM_MESSAGES = {'data': 'data_param', 'hdf5_data': 'hdf5_data_param',
                      'images': 'image_data_param', 'window_data': 'window_data_param',
                      'infogain_loss': 'infogain_loss_param', 'conv': 'convolution_param',
                      'innerproduct': 'inner_product_param', 'pool': 'pooling_param'}

# Where each V0 setting goes in V1: {V0 field: {V0 types: V1 field path}}. The first
# path part is a *_param message chosen by the layer's type ('{}'), or a fixed one.
_V0_FIELDS = {
    'num_output': {_CONV_IP: '{}.num_output'},
    'biasterm': {_CONV_IP: '{}.bias_term'},
    'weight_filler': {_CONV_IP: '{}.weight_filler'},
    'bias_filler': {_CONV_IP: '{}.bias_filler'},
    'pad': {('conv', 'pool'): '{}.pad'},
    'kernelsize': {('conv', 'pool'): '{}.kernel_size'},
    'group': {('conv',): '{}.group'},
    'stride': {('conv', 'pool'): '{}.stride'},
    'pool': {('pool',): '{}.pool'},  # same enum numbers in V0 and PoolingParameter
    'dropout_ratio': {('dropout',): 'dropout_param.dropout_ratio'},
    'local_size': {('lrn',): 'lrn_param.local_size'},
    'alpha': {('lrn',): 'lrn_param.alpha'},
    'beta': {('lrn',): 'lrn_param.beta'},
    'k': {('lrn',): 'lrn_param.k'},
    'source': {_DATA_SOURCES + ('infogain_loss',): '{}.source'},
    'scale': {None: 'transform_param.scale'},  # None: any type
    'meanfile': {None: 'transform_param.mean_file'},
    'batchsize': {_DATA_SOURCES: '{}.batch_size'},
    'cropsize': {None: 'transform_param.crop_size'},
    'mirror': {None: 'transform_param.mirror'},
    'rand_skip': {('data', 'images'): '{}.rand_skip'},
    'shuffle_images': {('images',): 'image_data_param.shuffle'},
    'new_height': {('images',): 'image_data_param.new_height'},
    'new_width': {('images',): 'image_data_param.new_width'},
    'concat_dim': {('concat',): 'concat_param.concat_dim'},
    'det_fg_threshold': {('window_data',): 'window_data_param.fg_threshold'},
    'det_bg_threshold': {('window_data',): 'window_data_param.bg_threshold'},
    'det_fg_fraction': {('window_data',): 'window_data_param.fg_fraction'},
    'det_context_pad': {('window_data',): 'window_data_param.context_pad'},
    'det_crop_mode': {('window_data',): 'window_data_param.crop_mode'},
    'hdf5_output_param': {('hdf5_output',): 'hdf5_output_param'},
}

# Copied as they are; or ignored by Caffe's upgrade (new_num, new_channels).
_V0_COPIED_OR_DROPPED = ('name', 'type', 'blobs', 'blobs_lr', 'weight_decay', 'new_num',
                         'new_channels')


def _v0_to_v1(net, source):
    """V0 layers (``layers { layer {...} }``) to V1, folding padding layers into convs."""
    if not any(c.HasField('layer') for c in net.layers):
        return False
    layers = [_v0_layer_to_v1(c, source) for c in _fold_padding(net, source)]
    # Caffe's V0 upgrade keeps only these net settings; V0 nets had no others.
    kept = caffe_pb2.NetParameter(input=net.input, input_dim=net.input_dim, layers=layers)
    for name in ('name', 'force_backward'):
        if net.HasField(name):
            setattr(kept, name, getattr(net, name))
    net.CopyFrom(kept)
    return True


def _fold_padding(net, source):
    """Copies of the V0 layers less padding layers, whose pad moves into the conv or pool
    layer reading their output (which then reads the padding layer's input)."""
    producer = dict.fromkeys(net.input)  # blob -> V0 connection that last wrote it
    kept = []
    for conn in net.layers:
        v0 = conn.layer
        if v0.type != 'padding':
            kept.append(V1())
            kept[-1].CopyFrom(conn)
        for j, blob in enumerate(conn.bottom):
            if blob not in producer:
                raise _layer_error(source, v0.name, 'unknown bottom blob "%s"' % blob)
            pad = producer[blob]
            if pad is None or pad.layer.type != 'padding':
                continue
            if v0.type not in ('conv', 'pool') or len(conn.bottom) != 1:
                raise _layer_error(source, v0.name, 'a padding layer can only feed a conv or '
                                   'pool layer with one bottom')
            if len(pad.bottom) != 1 or len(pad.top) != 1:
                raise _layer_error(source, pad.layer.name,
                                   'a padding layer needs one bottom and one top')
            kept[-1].layer.pad = pad.layer.pad
            kept[-1].bottom[j] = pad.bottom[0]
        for blob in conn.top:
            producer[blob] = conn
    return kept


def _v0_layer_to_v1(conn, source):
    """One V0 connection (bottoms, tops and a V0 ``layer``) as a V1 layer."""
    v0 = conn.layer
    layer = V1(bottom=conn.bottom, top=conn.top, blobs=v0.blobs, blobs_lr=v0.blobs_lr,
               weight_decay=v0.weight_decay)
    if v0.HasField('name'):
        layer.name = v0.name
    if v0.HasField('type'):
        if v0.type not in _V0_TYPES:
            raise _layer_error(source, v0.name, 'unknown V0 layer type "%s"' % v0.type)
        layer.type = _V0_TYPES[v0.type]
    for field, value in v0.ListFields():
        if field.name not in _V0_COPIED_OR_DROPPED:
            _set_path(layer, _v0_target(field.name, v0.type, v0.name, source), value)
    return layer


def _v0_target(field, kind, layer_name, source):
    """The V1 field path that V0 setting ``field`` of a ``kind`` layer goes to."""
    for kinds, path in _V0_FIELDS.get(field, {}).items():
        if kinds is None or kind in kinds:
            return path.format(_V0_PARAM_MESSAGES.get(kind))
    raise _layer_error(source, layer_name, 'V0 setting %s does not apply to a "%s" layer'
                       % (field, kind))


def _set_path(message, path, value):
    """Set ``message.a.b = value`` for path 'a.b' (append if repeated, copy if a message)."""
    *parents, name = path.split('.')
    for part in parents:
        message = getattr(message, part)
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.message_type is not None:
        getattr(message, name).SetInParent()
        getattr(message, name).CopyFrom(value)
    elif is_repeated(field):
        getattr(message, name).append(value)
    else:
        setattr(message, name, value)


# --- V1 data layers: transformation fields ----------------------------------------

_V1_DATA_PARAMS = {V1.DATA: 'data_param', V1.IMAGE_DATA: 'image_data_param',
                   V1.WINDOW_DATA: 'window_data_param'}
_TRANSFORM_FIELDS = ('scale', 'mean_file', 'crop_size', 'mirror')


def _data_transform_to_v1(net, source):
    """Move scale/mean_file/crop_size/mirror of V1 data layers into ``transform_param``."""
    data_layers = [(l, getattr(l, _V1_DATA_PARAMS[l.type])) for l in net.layers
                   if l.type in _V1_DATA_PARAMS]
    if not any(p.HasField(f) for _, p in data_layers for f in _TRANSFORM_FIELDS):
        return False
    for layer, param in data_layers:
        # Caffe's upgrade marks both messages present in every data layer it visits.
        param.SetInParent()
        layer.transform_param.SetInParent()
        for f in _TRANSFORM_FIELDS:
            if param.HasField(f):
                setattr(layer.transform_param, f, getattr(param, f))
                param.ClearField(f)
    return True


# --- V1 -> V2 ---------------------------------------------------------------------

_V1_TYPES = {
    'NONE': '', 'ABSVAL': 'AbsVal', 'ACCURACY': 'Accuracy', 'ARGMAX': 'ArgMax',
    'BNLL': 'BNLL', 'CONCAT': 'Concat', 'CONTRASTIVE_LOSS': 'ContrastiveLoss',
    'CONVOLUTION': 'Convolution', 'DECONVOLUTION': 'Deconvolution', 'DATA': 'Data',
    'DROPOUT': 'Dropout', 'DUMMY_DATA': 'DummyData', 'EUCLIDEAN_LOSS': 'EuclideanLoss',
    'ELTWISE': 'Eltwise', 'EXP': 'Exp', 'FLATTEN': 'Flatten', 'HDF5_DATA': 'HDF5Data',
    'HDF5_OUTPUT': 'HDF5Output', 'HINGE_LOSS': 'HingeLoss', 'IM2COL': 'Im2col',
    'IMAGE_DATA': 'ImageData', 'INFOGAIN_LOSS': 'InfogainLoss',
    'INNER_PRODUCT': 'InnerProduct', 'LRN': 'LRN', 'MEMORY_DATA': 'MemoryData',
    'MULTINOMIAL_LOGISTIC_LOSS': 'MultinomialLogisticLoss', 'MVN': 'MVN',
    'POOLING': 'Pooling', 'POWER': 'Power', 'RELU': 'ReLU', 'SIGMOID': 'Sigmoid',
    'SIGMOID_CROSS_ENTROPY_LOSS': 'SigmoidCrossEntropyLoss', 'SILENCE': 'Silence',
    'SOFTMAX': 'Softmax', 'SOFTMAX_LOSS': 'SoftmaxWithLoss', 'SPLIT': 'Split',
    'SLICE': 'Slice', 'TANH': 'TanH', 'WINDOW_DATA': 'WindowData', 'THRESHOLD': 'Threshold',
}

# V1 per-param lists -> ParamSpec fields (V1 and ParamSpec share the DimCheckMode numbers).
_V1_PARAM_SPECS = (('param', 'name'), ('blob_share_mode', 'share_mode'),
                   ('blobs_lr', 'lr_mult'), ('weight_decay', 'decay_mult'))


def _v1_to_v2(net, source):
    """V1 ``layers`` (enum types, blobs_lr, weight_decay) to V2 ``layer``."""
    if not net.layers:
        return False
    if net.layer:
        raise FormatError('%s: the net has both "layer" (current) and "layers" (V1) entries; '
                          'write all of them as "layer"' % source)
    for v1 in net.layers:  # built in place: copying a 500 MB net's blobs twice costs seconds
        _fill_from_v1(net.layer.add(), v1)
    net.ClearField('layers')
    return True


def _fill_from_v1(layer, v1):
    """Fill the empty V2 ``layer`` from the V1 layer ``v1``."""
    for name in ('bottom', 'top', 'include', 'exclude', 'blobs', 'loss_weight'):
        getattr(layer, name).extend(getattr(v1, name))
    if v1.HasField('name'):
        layer.name = v1.name
    if v1.HasField('type'):
        layer.type = _V1_TYPES[V1.LayerType.Name(v1.type)]
    for v1_field, spec_field in _V1_PARAM_SPECS:
        for i, value in enumerate(getattr(v1, v1_field)):
            while len(layer.param) <= i:
                layer.param.add()
            setattr(layer.param[i], spec_field, value)
    for field, value in v1.ListFields():
        if field.name.endswith('_param'):  # every V1 *_param exists in LayerParameter
            getattr(layer, field.name).CopyFrom(value)


# --- input fields -> Input layer ------------------------------------------------------

def _input_fields_to_layer(net, source):
    """``input`` + ``input_shape``/``input_dim`` to an Input layer named "input", first.

    Inputs without shapes (old caffemodels) are simply dropped, as in Caffe.
    """
    if not net.input:
        return False
    n = len(net.input)
    if net.input_shape or net.input_dim:
        layer = caffe_pb2.LayerParameter(name='input', type='Input', top=net.input)
        if net.input_shape:  # Caffe prefers input_shape when both are given
            if len(net.input_shape) != n:
                raise FormatError('%s: %d inputs but %d input_shape entries (one per input)'
                                  % (source, n, len(net.input_shape)))
            layer.input_param.shape.extend(net.input_shape)
        else:
            if len(net.input_dim) != 4 * n:
                raise FormatError('%s: %d inputs but %d input_dim values (four per input)'
                                  % (source, n, len(net.input_dim)))
            for i in range(n):
                layer.input_param.shape.add(dim=net.input_dim[4 * i:4 * i + 4])
        net.layer.insert(0, layer)
    for name in ('input', 'input_shape', 'input_dim'):
        net.ClearField(name)
    return True


# --- BatchNorm ------------------------------------------------------------------------

def _batch_norm_params(net, source):
    """Old BatchNorm layers declared 3 params with manual rates; Caffe forces them to 0."""
    changed = False
    for layer in net.layer:
        if layer.type == 'BatchNorm' and len(layer.param) == 3:
            for spec in layer.param:
                for f in ('lr_mult', 'decay_mult'):
                    changed |= not (spec.HasField(f) and getattr(spec, f) == 0)
                    setattr(spec, f, 0)
    return changed
