"""How data enters the nets: Python data layers, Input layers, and swapping one for the other.

Training and evaluation nets read data through the Python layers of the repository's
``layers.py``; their ``param_str`` is a Python dict literal whose dataset paths are
relative to the data root given to solve.py. Deploy nets take Input layers instead.
"""
import argparse
import ast

from torchcaffe.errors import NetError
from torchcaffe.net_spec import layers as L
from torchcaffe.proto import caffe_pb2

DATA_MODULE = 'layers'
# The package's own module of the same layers, which imports without the repository root on
# sys.path: fcn train's and the demo's nets name it.
PACKAGE_MODULE = 'fcn.layers'
DATA_MODULES = (DATA_MODULE, PACKAGE_MODULE)  # modules whose Python layers are data layers
# Channels of every data top of the nets here: images, encodings, and label maps.
CHANNELS = {'data': 3, 'color': 3, 'hha': 3, 'depth': 1, 'label': 1, 'sem': 1, 'geo': 1}


def _tops(result):
    return result if isinstance(result, tuple) else (result,)


def python_data(n, layer, names, module=DATA_MODULE, **params):
    """Add the data layer class ``layer`` of ``layers.py`` (or ``module``) with tops ``names``.

    ``params`` become its ``param_str``; the layer takes the name of its first top.
    """
    outputs = L.Python(module=module, layer=layer, ntop=len(names), param_str=repr(params))
    for name, top in zip(names, _tops(outputs)):
        n[name] = top


def input_data(n, shapes):
    """Add one Input layer named ``input`` with a top per item of ``{top: shape}``."""
    outputs = L.Input(name='input', ntop=len(shapes),
                      shape=[dict(dim=list(shape)) for shape in shapes.values()])
    for name, top in zip(shapes, _tops(outputs)):
        n[name] = top


def input_shapes(height, width, batch=1):
    """``{top: shape}`` for every data top of the nets here, all of ``height`` x ``width``."""
    return {top: (batch, channels, height, width) for top, channels in CHANNELS.items()}


def with_inputs(net, shapes):
    """A copy of NetParameter ``net`` whose Python data layers are Input layers.

    Each data layer keeps its name and tops and gets the shapes ``shapes[top]``;
    nets with real data layers can then be instantiated without data. Other
    Python layers (the loss variants of losses.py) stay.
    """
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for layer in out.layer:
        if layer.type != 'Python' or layer.python_param.module not in DATA_MODULES:
            continue
        missing = [top for top in layer.top if top not in shapes]
        if missing:
            raise NetError("layer '%s': no input shape for top(s) %s"
                           % (layer.name, ', '.join(missing)))
        replacement = caffe_pb2.LayerParameter(name=layer.name, type='Input', top=layer.top)
        for top in layer.top:
            replacement.input_param.shape.add(dim=shapes[top])
        layer.CopyFrom(replacement)
    return out


def dict_literal(text):
    """The Python dict literal ``text`` as a dict, else None; nothing is executed."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def data_options(text):
    """A command line's data-layer options: a dict literal such as "{'mirror': True}" (argparse type)."""
    options = dict_literal(text)
    if options is None:
        raise argparse.ArgumentTypeError("expected a dict literal such as \"{'mirror': True}\", got %r" % text)
    return options


def with_data_options(net, options):
    """A copy of NetParameter ``net`` with ``options`` merged into its data layers' ``param_str``.

    The layers check the keys and values when the net is built.
    """
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    found = False
    for layer in out.layer:
        if layer.type == 'Python' and layer.python_param.module in DATA_MODULES:
            params = ast.literal_eval(layer.python_param.param_str)
            params.update(options)
            layer.python_param.param_str = repr(params)
            found = True
    if not found:
        raise NetError("net '%s' has no data layer of %s.py to take %s" % (net.name, DATA_MODULE, options))
    return out
