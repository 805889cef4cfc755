"""Embed: a lookup table; each input value (an integer index held as a float) picks
one row of the (input_dim, num_output) weight, plus an optional bias."""
import numpy as np

from ..layer import Layer, register


@register('Embed')
class Embed(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.embed_param
        if p.num_output <= 0:
            raise self.error('num_output must be positive')
        if p.input_dim <= 0:
            raise self.error('input_dim must be positive')
        self.n, self.k, self.bias_term = p.num_output, p.input_dim, p.bias_term
        shapes = [(self.k, self.n)] + ([(self.n,)] if self.bias_term else [])
        if self.blobs:
            self.check_param_shapes(*shapes)
        else:
            self.add_param(shapes[0], p.weight_filler if p.HasField('weight_filler') else None)
            if self.bias_term:
                self.add_param(shapes[1], p.bias_filler if p.HasField('bias_filler') else None)

    def reshape(self, bottom, top):
        top[0].reshape(tuple(bottom[0].shape) + (self.n,))

    def indices(self, blob):
        """The input as row indices (truncated like Caffe's int cast), checked on the host:
        Caffe reads outside the table for a bad index, we raise."""
        with np.errstate(invalid='ignore'):
            host = blob.read_data().reshape(-1)
            idx = host.astype(np.int64)
        bad = (idx < 0) | (idx >= self.k) | (idx != host)
        if bad.any():
            raise self.error('input value %g is not an index in [0, %d) (input_dim)'
                             % (host[bad][0], self.k))
        return blob.tdata.reshape(-1).long()

    def forward(self, bottom, top):
        self.idx = self.indices(bottom[0])
        y = self.blobs[0].tdata.index_select(0, self.idx)
        if self.bias_term:
            y = y + self.blobs[1].tdata
        top[0].tdata = y.reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            raise self.error('cannot backpropagate to the index input')
        g = top[0].tdiff.reshape(-1, self.n)
        if self.param_propagate_down[0]:
            self.blobs[0].tdiff.index_add_(0, self.idx, g)
        if self.bias_term and self.param_propagate_down[1]:
            self.blobs[1].tdiff.add_(g.sum(0))
