"""How data enters the nets: Python data layers, Input layers, and swapping one for the other.

Training and evaluation nets read data through the Python layers of the repository's
``layers.py``; their ``param_str`` is a Python dict literal whose dataset paths are
relative to the data root given to solve.py. Deploy nets take Input layers instead.
"""
from torchcaffe.errors import NetError
from torchcaffe.net_spec import layers as L
from torchcaffe.proto import caffe_pb2

DATA_MODULE = 'layers'


def _tops(result):
    return result if isinstance(result, tuple) else (result,)


def python_data(n, layer, names, **params):
    """Add the data layer class ``layer`` of ``layers.py`` with tops ``names``.

    ``params`` become its ``param_str``; the layer takes the name of its first top.
    """
    outputs = L.Python(module=DATA_MODULE, layer=layer, ntop=len(names), param_str=repr(params))
    for name, top in zip(names, _tops(outputs)):
        n[name] = top


def input_data(n, shapes):
    """Add one Input layer named ``input`` with a top per item of ``{top: shape}``."""
    outputs = L.Input(name='input', ntop=len(shapes),
                      shape=[dict(dim=list(shape)) for shape in shapes.values()])
    for name, top in zip(shapes, _tops(outputs)):
        n[name] = top


def with_inputs(net, shapes):
    """A copy of NetParameter ``net`` whose Python layers are Input layers.

    Each Python layer keeps its name and tops and gets the shapes ``shapes[top]``;
    nets with real data layers can then be instantiated without data.
    """
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    for layer in out.layer:
        if layer.type != 'Python':
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
