"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, conv, data, eltwise, inner_product, loss, lrn, neuron,  # noqa: F401
               pooling, recurrent, scale, softmax, spp, structure)
