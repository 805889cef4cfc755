"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, argmax, batch_norm, batch_reindex, conv, data, eltwise, embed,  # noqa: F401
               filter, im2col, inner_product, loss, lrn, mvn, neuron, parameter, pooling,
               recurrent, reduction, scale, softmax, spp, structure, tile)
from ..layer import REGISTRY


def layer_type_list():
    """The layer types the engine implements, sorted (pycaffe's LayerRegistry list)."""
    from .. import python_layer  # noqa: F401  (registers Python)
    return sorted(REGISTRY)
