"""Input: tops the caller fills (net inputs)."""
from ..layer import Layer, register


@register('Input')
class Input(Layer):
    exact_bottoms = 0
    min_tops = 1

    def layer_setup(self, bottom, top):
        shapes = self.param.input_param.shape
        if len(shapes) not in (0, 1, len(top)):
            raise self.error('input_param needs 0, 1 or %d shapes, got %d' % (len(top), len(shapes)))
        for i, t in enumerate(top):
            if len(shapes):
                t.reshape(tuple(shapes[0 if len(shapes) == 1 else i].dim))

    def reshape(self, bottom, top):
        pass  # the caller owns input shapes

    def forward(self, bottom, top):
        pass
