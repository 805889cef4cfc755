"""Parameter: one learnable blob of parameter_param.shape, given as the top."""
from ..layer import Layer, register


@register('Parameter')
class Parameter(Layer):
    exact_bottoms = 0
    exact_tops = 1

    def layer_setup(self, bottom, top):
        shape = tuple(self.param.parameter_param.shape.dim)
        if not self.blobs:
            self.add_param(shape)  # Caffe leaves it unfilled: zeros
        top[0].reshape(shape)

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        # The top is the parameter: what flows back into its diff is the parameter's gradient.
        top[0].share_data(self.blobs[0])
        top[0].share_diff(self.blobs[0])

    def backward(self, top, propagate_down, bottom):
        pass
