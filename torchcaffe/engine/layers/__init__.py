"""Engine layer implementations; importing this package registers every type."""
from . import conv, data, eltwise, loss, neuron, pooling, structure  # noqa: F401
