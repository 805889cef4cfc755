"""pycaffe's ``caffe.draw``: a NetParameter drawn as a graphviz graph, through pydot.

pydot (``pip install pydot``, or the ``draw`` extra) and graphviz's ``dot`` program
are needed, as for pycaffe; the graph is pycaffe's, node for node.
"""
from .proto import caffe_pb2

LAYER_STYLE_DEFAULT = {'shape': 'record', 'fillcolor': '#6495ED', 'style': 'filled'}
NEURON_LAYER_STYLE = {'shape': 'record', 'fillcolor': '#90EE90', 'style': 'filled'}
BLOB_STYLE = {'shape': 'octagon', 'fillcolor': '#E0E0E0', 'style': 'filled'}
_LAYER_COLORS = {'Convolution': '#FF5050', 'Deconvolution': '#FF5050', 'Pooling': '#FF9900',
                 'InnerProduct': '#CC33FF'}
_LEARNING = ('Convolution', 'Deconvolution', 'InnerProduct')


def _pydot():
    """The pydot module (pydotplus where installed, as pycaffe prefers), or a clear error."""
    try:
        import pydotplus as pydot
    except ImportError:
        try:
            import pydot
        except ImportError:
            raise ImportError('torchcaffe.draw needs pydot and graphviz: '
                              '`pip install pydot` (or the "draw" extra) and install '
                              'graphviz') from None
    return pydot


def get_pooling_types_dict():
    """{number: name} of PoolingParameter's pooling methods."""
    return {v.number: name for name, v in
            caffe_pb2.PoolingParameter.PoolMethod.DESCRIPTOR.values_by_name.items()}


def get_edge_label(layer):
    """The label of a layer's edges to its tops: batch size or number of outputs."""
    if layer.type == 'Data':
        return 'Batch ' + str(layer.data_param.batch_size)
    if layer.type in ('Convolution', 'Deconvolution'):
        return str(layer.convolution_param.num_output)
    if layer.type == 'InnerProduct':
        return str(layer.inner_product_param.num_output)
    return '""'


def get_layer_lr_mult(layer):
    """(weights, bias) learning rate multipliers of a Convolution, Deconvolution or
    InnerProduct layer."""
    if layer.type not in _LEARNING:
        raise ValueError('%s layers do not have a learning rate multiplier' % layer.type)
    if len(layer.param) > 2:
        raise ValueError('Could not parse the learning rate multiplier')
    mults = [p.lr_mult for p in layer.param]
    return tuple(mults + [1.0] * (2 - len(mults)))


def get_layer_label(layer, rankdir, display_lrm=False):
    """A node's label: name, type and spatial parameters (quoted for dot); words go on
    separate lines when the graph runs left to right."""
    separator = ' ' if rankdir in ('TB', 'BT') else r'\n'
    if layer.type == 'Pooling':
        kind = '(%s %s)' % (layer.type, get_pooling_types_dict()[layer.pooling_param.pool])
    else:
        kind = '(%s)' % layer.type
    parts = [layer.name, kind]
    if layer.type in ('Convolution', 'Deconvolution', 'Pooling'):
        kernel, stride, pad = _spatial(layer)
        parts.append(separator.join(['kernel size: %d' % kernel, 'stride: %d' % stride,
                                     'pad: %d' % pad]))
    if display_lrm and layer.type in _LEARNING:
        lrm = get_layer_lr_mult(layer)
        if any(lrm):
            parts.append('lr mult: %.1f, %.1f' % lrm)
    return '"%s"' % separator.join(parts)  # quoted, or dot misreads the colons


def _spatial(layer):
    """(kernel size, stride, pad) as pycaffe shows them: the first of each, for convolutions."""
    if layer.type == 'Pooling':
        p = layer.pooling_param
        return p.kernel_size, p.stride, p.pad
    p = layer.convolution_param
    return _first(p.kernel_size, 1), _first(p.stride, 1), _first(p.pad, 0)


def _first(values, default):
    """The first of a repeated field's values, or ``default`` when it has none."""
    return values[0] if len(values) else default


def choose_color_by_layertype(layertype):
    """The fill color of a layer's node."""
    return _LAYER_COLORS.get(layertype, '#6495ED')


def _included(layer, phase):
    """Whether ``layer`` is in the net of ``phase`` (None: every layer), by its phase rules."""
    if phase is None:
        return True
    if len(layer.include) and len(layer.exclude):
        raise ValueError('layer ' + layer.name + ' has both include and exclude specified.')
    included = not len(layer.include) or any(r.phase == phase for r in layer.include)
    return included and not any(r.phase == phase for r in layer.exclude)


def get_pydot_graph(caffe_net, rankdir, label_edges=True, phase=None, display_lrm=False):
    """A pydot graph of the NetParameter ``caffe_net``: layers and blobs are nodes,
    edges run bottom -> layer -> top; ``phase`` (TRAIN, TEST or None for all) picks
    the layers."""
    pydot = _pydot()
    graph = pydot.Dot(caffe_net.name if caffe_net.name else 'Net', graph_type='digraph',
                      rankdir=rankdir)
    nodes, edges = {}, []  # by key; a blob seen again takes its latest node (as pycaffe)
    for layer in caffe_net.layer:
        if not _included(layer, phase):
            continue
        label = get_layer_label(layer, rankdir, display_lrm=display_lrm)
        key = '%s_%s' % (layer.name, layer.type)
        in_place = len(layer.bottom) == 1 and list(layer.bottom) == list(layer.top)
        style = NEURON_LAYER_STYLE if in_place else dict(
            LAYER_STYLE_DEFAULT, fillcolor=choose_color_by_layertype(layer.type))
        nodes[key] = pydot.Node(label, **style)
        for bottom in layer.bottom:
            nodes[bottom + '_blob'] = pydot.Node(bottom, **BLOB_STYLE)
            edges.append((bottom + '_blob', key, '""'))
        for top in layer.top:
            nodes[top + '_blob'] = pydot.Node(top)
            edges.append((key, top + '_blob', get_edge_label(layer) if label_edges else '""'))
    for node in nodes.values():
        graph.add_node(node)
    for src, dst, label in edges:
        graph.add_edge(pydot.Edge(nodes[src], nodes[dst], label=label))
    return graph


def draw_net(caffe_net, rankdir, ext='png', phase=None, display_lrm=False):
    """The drawing of ``caffe_net`` as bytes in format ``ext`` (graphviz's ``dot``);
    'raw' is the graph's dot source, which pycaffe documents (dot itself knows no 'raw')."""
    graph = get_pydot_graph(caffe_net, rankdir, phase=phase, display_lrm=display_lrm)
    return graph.to_string().encode() if ext == 'raw' else graph.create(format=ext)


def draw_net_to_file(caffe_net, filename, rankdir='LR', phase=None, display_lrm=False):
    """Draw ``caffe_net`` into ``filename``, in the format its extension names ('.raw':
    dot's own text)."""
    ext = filename[filename.rfind('.') + 1:]
    with open(filename, 'wb') as f:
        f.write(draw_net(caffe_net, rankdir, ext, phase, display_lrm))
