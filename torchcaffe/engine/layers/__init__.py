"""Engine layer implementations; importing this package registers every type."""
from . import conv, data, loss, neuron, structure  # noqa: F401
