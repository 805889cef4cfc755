"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, conv, data, dummy_data, eltwise, hdf5, inner_product, loss, lrn,  # noqa: F401
               memory_data, neuron, pooling, scale, softmax, structure)
