"""Engine layer implementations; importing this package registers every type."""
from . import (accuracy, conv, data, db_data, dummy_data, eltwise, hdf5, image_data,  # noqa: F401
               inner_product, loss, lrn, memory_data, neuron, pooling, scale, softmax, structure,
               window_data)
