"""Elementwise ("neuron") layers."""
import torch

from ..layer import Layer, register


class Neuron(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def reshape(self, bottom, top):
        top[0].reshape(bottom[0].shape)


@register('ReLU')
class ReLU(Neuron):
    def forward(self, bottom, top):
        x = bottom[0].tdata
        slope = self.param.relu_param.negative_slope
        top[0].tdata = torch.relu(x) if slope == 0 else torch.where(x > 0, x, x * slope)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        # In place, bottom data is the output, which is > 0 exactly where the input was.
        g = top[0].tdiff
        slope = self.param.relu_param.negative_slope
        bottom[0].tdiff = torch.where(bottom[0].tdata > 0, g, g * slope)
