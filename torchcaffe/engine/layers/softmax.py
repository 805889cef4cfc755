"""Softmax over one axis."""
import torch

from ..layer import Layer, register, axis_index


@register('Softmax')
class Softmax(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def reshape(self, bottom, top):
        self.axis = axis_index(self.param.softmax_param.axis, len(bottom[0].shape))
        top[0].reshape(bottom[0].shape)

    def forward(self, bottom, top):
        top[0].tdata = torch.softmax(bottom[0].tdata, self.axis)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            y, g = top[0].tdata, top[0].tdiff
            bottom[0].tdiff = (g - (g * y).sum(self.axis, keepdim=True)) * y
