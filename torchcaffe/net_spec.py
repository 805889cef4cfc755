"""Nets written in Python: pycaffe's NetSpec, ``layers`` (L) and ``params`` (P).

``L.Convolution(bottom, kernel_size=3, num_output=64)`` makes a layer and returns its
top; assigning tops to a ``NetSpec`` names them; ``NetSpec.to_proto()`` returns the
``NetParameter`` that computes every assigned top. Keyword arguments fill the layer:

- ``ntop`` (number of tops, default 1; 0 returns the layer itself) and ``in_place``
  (the tops are the bottoms) shape the layer and are not fields;
- a field of the layer type's parameter message goes there (``kernel_size`` ->
  ``convolution_param``), any other field of ``LayerParameter`` to the layer
  (``param``, ``loss_weight``, ``include``, ``name``, ``convolution_param=dict(...)``);
- lists fill repeated fields, dicts fill messages, enum values may be given by name.

Tops not assigned to a NetSpec get automatic names, the layer type and a count
(``Convolution1``), and a layer takes the name of its first top, as in pycaffe.
"""
from collections import Counter, OrderedDict

from google.protobuf.message import Message

from .errors import NetError
from .formats.prototxt import is_repeated
from .proto import caffe_pb2

# Layer types that read a parameter message named after another type.
_BORROWED_PARAMS = {'Deconvolution': 'convolution_param', 'Im2col': 'convolution_param',
                    'SoftmaxWithLoss': 'softmax_param'}


def _param_fields():
    """{layer type: its parameter field of LayerParameter}, from the schema."""
    fields = {}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        kind = field.message_type
        if field.name.endswith('_param') and kind is not None and kind.name.endswith('Parameter'):
            fields[kind.name[:-len('Parameter')]] = field.name
    fields.update(_BORROWED_PARAMS)
    return fields


PARAM_FIELDS = _param_fields()


def _scalar(field, value, where):
    """``value`` as ``field`` stores it; enum values may be given by name."""
    if field.enum_type is not None and isinstance(value, str):
        number = field.enum_type.values_by_name.get(value)
        if number is None:
            raise NetError('%s: %r is not a value of %s' % (where, value, field.enum_type.name))
        return number.number
    return value


def _set_scalar(message, field, value, where):
    try:
        if is_repeated(field):
            getattr(message, field.name).append(_scalar(field, value, where))
        else:
            setattr(message, field.name, _scalar(field, value, where))
    except (TypeError, ValueError) as e:
        raise NetError('%s: %s' % (where, e)) from None


def assign(message, name, value, where='message'):
    """Set field ``name`` of ``message`` from a Python value, recursively.

    Lists (or tuples) fill repeated fields, a single value becomes a one-item list,
    dicts fill messages; ``where`` names the place in error messages.
    """
    field = message.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        raise NetError('%s: %s has no field %r' % (where, message.DESCRIPTOR.name, name))
    where = '%s.%s' % (where, name)
    is_message = field.message_type is not None
    if is_repeated(field):
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if is_message:
                _fill(getattr(message, name).add(), item, where)
            else:
                _set_scalar(message, field, item, where)
    elif is_message:
        _fill(getattr(message, name), value, where)
    else:
        _set_scalar(message, field, value, where)


def _fill(message, value, where):
    if isinstance(value, Message):
        message.CopyFrom(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            assign(message, key, item, where)
    else:
        raise NetError('%s: expected a dict for %s, got %r'
                       % (where, message.DESCRIPTOR.name, value))


class Top:
    """One output blob of a layer (a ``Function``): its ``n``-th top."""

    def __init__(self, fn, n):
        self.fn = fn
        self.n = n
        self.name = None  # the first NetSpec name given to it; for messages only

    def __repr__(self):
        if self.name is not None:
            return 'Top(%r)' % self.name
        return 'Top(%s top %d)' % (self.fn.type_name, self.n)

    def to_proto(self):
        """The NetParameter of every layer needed to compute this top."""
        return to_proto(self)

    def _to_proto(self, layers, names, autonames):
        return self.fn._to_proto(layers, names, autonames)


class BottomTypeError(NetError, TypeError):
    """A layer given something other than a Top as a bottom (pycaffe: TypeError)."""


class Function:
    """A layer: its type, bottoms (Tops) and keyword parameters."""

    def __init__(self, type_name, inputs, params):
        for i, bottom in enumerate(inputs):
            if not isinstance(bottom, Top):
                # pycaffe's wording, which its tests match
                raise BottomTypeError('%s input %d is not a Top (type is %s)' % (type_name, i, type(bottom)))
        self.type_name = type_name
        self.inputs = tuple(inputs)
        params = dict(params)
        self.ntop = params.pop('ntop', 1)
        self.in_place = params.pop('in_place', False)
        self.params = params
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def layer_param(self, where=None):
        """A LayerParameter with this layer's type and parameters (no names)."""
        layer = caffe_pb2.LayerParameter(type=self.type_name)
        where = where or self.type_name
        own = PARAM_FIELDS.get(self.type_name)
        own_fields = getattr(layer, own).DESCRIPTOR.fields_by_name if own else {}
        for key, value in self.params.items():
            if key in own_fields:
                assign(getattr(layer, own), key, value, where + '.' + own)
            elif key in layer.DESCRIPTOR.fields_by_name:
                assign(layer, key, value, where)
            else:
                raise NetError('%s: no parameter %r for a %s layer'
                               % (where, key, self.type_name))
        return layer

    def _name(self, names, autonames):
        if self not in names:
            if self.ntop > 0:
                names[self] = _top_name(self.tops[0], names, autonames)
            else:
                autonames[self.type_name] += 1
                names[self] = '%s%d' % (self.type_name, autonames[self.type_name])
        return names[self]

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottoms = []
        for bottom in self.inputs:
            bottom._to_proto(layers, names, autonames)
            bottoms.append(layers[bottom.fn].top[bottom.n])
        if self.in_place:
            tops = bottoms
        else:
            tops = [_top_name(top, names, autonames) for top in self.tops]
        name = self._name(names, autonames)
        layer = caffe_pb2.LayerParameter(name=name, bottom=bottoms, top=tops)
        layer.MergeFrom(self.layer_param("layer '%s'" % name))
        layers[self] = layer


def _top_name(top, names, autonames):
    if top not in names:
        autonames[top.fn.type_name] += 1
        names[top] = '%s%d' % (top.fn.type_name, autonames[top.fn.type_name])
    return names[top]


def _net(roots, names):
    layers = OrderedDict()
    autonames = Counter()
    for root in roots:
        root._to_proto(layers, names, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


def to_proto(*tops):
    """The NetParameter of every layer needed to compute ``tops`` (automatic names)."""
    return _net(tops, {})


class NetSpec:
    """Named tops: assign them as attributes (or items); ``to_proto`` builds the net."""

    def __init__(self):
        super().__setattr__('tops', OrderedDict())

    def __setattr__(self, name, value):
        if not isinstance(value, (Top, Function)):
            raise NetError('NetSpec.%s: expected a Top, got %r' % (name, value))
        if isinstance(value, Top) and value.name is None:
            value.name = name
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError('NetSpec has no top %r' % name) from None

    def __setitem__(self, name, value):
        self.__setattr__(name, value)

    def __getitem__(self, name):
        return self.tops[name]

    def __contains__(self, name):
        return name in self.tops

    def to_proto(self):
        """The NetParameter computing every assigned top, named as assigned."""
        names = {top: name for name, top in self.tops.items()}
        return _net(self.tops.values(), names)


class Layers:
    """``layers.Type(*bottoms, **params)`` makes a layer of that type.

    Returns its top, its tuple of tops when ``ntop`` > 1, or the layer when ``ntop`` is 0.
    """

    def __getattr__(self, type_name):
        if type_name.startswith('__'):
            raise AttributeError(type_name)

        def layer(*bottoms, **params):
            fn = Function(type_name, bottoms, params)
            if fn.ntop == 0:
                return fn
            return fn.tops[0] if fn.ntop == 1 else fn.tops
        return layer


class Parameters:
    """``params.Pooling.MAX`` is the enum value ``PoolingParameter.MAX``."""

    def __getattr__(self, name):
        message_class = getattr(caffe_pb2, name + 'Parameter', None)
        if message_class is None:
            raise AttributeError('caffe_pb2 has no %sParameter' % name)
        return message_class


layers = Layers()
params = Parameters()
