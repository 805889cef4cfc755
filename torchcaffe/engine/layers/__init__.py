"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, argmax, batch_norm, batch_reindex, conv, data, db_data,  # noqa: F401
               dummy_data, eltwise, embed, filter, hdf5, im2col, image_data, inner_product,
               loss, lrn, memory_data, mvn, neuron, parameter, pooling, recurrent, reduction,
               scale, softmax, spp, structure, tile, window_data)
from ..layer import REGISTRY


def layer_type_list():
    """The layer types the engine implements, sorted (pycaffe's LayerRegistry list)."""
    from .. import python_layer  # noqa: F401  (registers Python)
    return sorted(REGISTRY)
