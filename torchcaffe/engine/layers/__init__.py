"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, argmax, batch_norm, batch_reindex, conv, data, eltwise, embed,  # noqa: F401
               filter, im2col, inner_product, loss, lrn, mvn, neuron, parameter, pooling,
               reduction, scale, softmax, structure, tile)
