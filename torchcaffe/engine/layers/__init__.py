"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, conv, data, eltwise, inner_product, loss, lrn, neuron,  # noqa: F401
               pooling, scale, softmax, structure)
from ..layer import REGISTRY


def layer_type_list():
    """The layer types the engine implements, sorted (pycaffe's LayerRegistry list)."""
    from .. import python_layer  # noqa: F401  (registers Python)
    return sorted(REGISTRY)
