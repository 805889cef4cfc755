"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, argmax, batch_norm, conv, data, eltwise, inner_product, loss,  # noqa: F401
               lrn, mvn, neuron, pooling, reduction, scale, softmax, structure, tile)
