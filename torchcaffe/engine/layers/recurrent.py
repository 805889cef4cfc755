"""Recurrent layers: RNN, LSTM and LSTMUnit.

Caffe's RNN and LSTM unroll an internal net over the T time steps of the input
(T x N x ...). Here the same steps are computed directly, and backpropagation
through time is written out with the formulas of that net's layers, so results,
parameter blobs (order, shapes) and the diffs that get written are Caffe's:

- every step first multiplies the previous hidden state by the continuation
  indicator ``cont`` (T x N), so ``cont = 0`` starts a new sequence;
- x and the optional static input (N x ...) always receive a diff when the
  layer runs backward, whatever propagate_down says (the internal net forces
  it); exposed hidden-state bottoms never do, and exposed hidden-state tops
  pass no diff back;
- without expose_hidden, each forward starts from the state the previous one
  ended in (zeros at first).
"""
import torch

from ..layer import Layer, register, count


def unit_forward(c_prev, X, cont):
    """One LSTM step on gate inputs X (N x 4H, order i, f, o, g): (c, h, gates)."""
    i, f, o, g = X.chunk(4, 1)
    i, o, g = torch.sigmoid(i), torch.sigmoid(o), torch.tanh(g)
    cont = cont.unsqueeze(1)
    f = torch.where(cont == 0, torch.zeros_like(f), cont * torch.sigmoid(f))
    c = f * c_prev + i * g
    h = o * torch.tanh(c)
    return c, h, (i, f, o, g)


def unit_backward(c_prev, c, gates, dc, dh):
    """Caffe's LSTMUnit backward: (dc_prev, dX). The forget gate's diff uses
    f (1 - f) with f already scaled by cont, exactly as Caffe does."""
    i, f, o, g = gates
    tanh_c = torch.tanh(c)
    c_term = dc + dh * o * (1 - tanh_c * tanh_c)
    dX = torch.cat([c_term * g * i * (1 - i),
                    c_term * c_prev * f * (1 - f),
                    dh * tanh_c * o * (1 - o),
                    c_term * i * (1 - g * g)], 1)
    return c_term * f, dX


@register('LSTMUnit')
class LSTMUnit(Layer):
    """Bottoms c_prev (1 x N x H), gate inputs (1 x N x 4H), cont (1 x N); tops c, h."""
    exact_bottoms = 3
    exact_tops = 2

    def allow_force_backward(self, bottom_index):
        return bottom_index != 2

    def reshape(self, bottom, top):
        c, x, cont = (b.shape for b in bottom)
        if len(c) != 3 or len(x) != 3 or len(cont) != 2:
            raise self.error('needs bottoms of 3, 3 and 2 axes, got %s, %s, %s' % (c, x, cont))
        if not (c[0] == x[0] == cont[0] == 1) or not (c[1] == x[1] == cont[1]):
            raise self.error('bottoms %s, %s, %s must be one time step of the same streams' % (c, x, cont))
        if x[2] != 4 * c[2]:
            raise self.error('gate input has %d channels, needs 4 x %d' % (x[2], c[2]))
        for t in top:
            t.reshape(c)

    def forward(self, bottom, top):
        c_prev, X, cont = (b.tdata[0] for b in bottom)
        c, h, _ = unit_forward(c_prev, X, cont)
        top[0].tdata = c.unsqueeze(0)
        top[1].tdata = h.unsqueeze(0)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[2]:
            raise self.error('cannot backpropagate to the sequence continuation indicators')
        if not (propagate_down[0] or propagate_down[1]):
            return
        c_prev, X, cont = (b.tdata[0] for b in bottom)
        _, _, gates = unit_forward(c_prev, X, cont)
        dc_prev, dX = unit_backward(c_prev, top[0].tdata[0], gates, top[0].tdiff[0], top[1].tdiff[0])
        # Caffe writes both diffs whenever either is wanted.
        bottom[0].tdiff = dc_prev.unsqueeze(0)
        bottom[1].tdiff = dX.unsqueeze(0)


class Recurrent(Layer):
    """Shared frame of RNN and LSTM: blob layout, state, input transforms."""
    states = 1        # recurrent state blobs: h (and c)
    gate_factor = 1   # rows of the input weights per output

    def __init__(self, param, phase, device):
        super().__init__(param, phase, device)
        self.exposed = self.states if param.recurrent_param.expose_hidden else 0
        self.min_bottoms = 2 + self.exposed
        self.max_bottoms = self.min_bottoms + 1
        self.exact_tops = 1 + self.exposed

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1

    def layer_setup(self, bottom, top):
        p = self.param.recurrent_param
        if p.num_output <= 0:
            raise self.error('recurrent_param.num_output must be positive')
        if len(bottom[0].shape) < 2:
            raise self.error('bottom 0 needs at least 2 axes (time steps, streams), got %s'
                             % (bottom[0].shape,))
        self.H = p.num_output
        self.T = bottom[0].shape[0]
        self.static = len(bottom) > 2 + self.exposed
        if self.static and len(bottom[2].shape) < 1:
            raise self.error('the static input needs at least 1 axis')
        shapes = self.param_shapes(count(bottom[0].shape, 2),
                                   count(bottom[2].shape, 1) if self.static else None)
        if self.blobs:
            self.check_param_shapes(*[s for s, _ in shapes])
        else:
            for shape, is_bias in shapes:
                self.add_param(shape, p.bias_filler if is_bias else p.weight_filler)
        self.state = None

    def param_shapes(self, k, k_static):
        """[(shape, is_bias)] of the parameter blobs in Caffe's order."""
        G = self.gate_factor * self.H
        shapes = [((G, k), False), ((G,), True)]
        if k_static is not None:
            shapes.append(((G, k_static), False))
        return shapes + [((G, self.H), False)]

    def reshape(self, bottom, top):
        x, cont = bottom[0].shape, bottom[1].shape
        if len(x) < 2:
            raise self.error('bottom 0 needs at least 2 axes (time steps, streams), got %s' % (x,))
        if x[0] != self.T:
            raise self.error('the number of time steps changed from %d to %d' % (self.T, x[0]))
        if tuple(cont) != tuple(x[:2]):
            raise self.error('cont must be T x N = %s, got %s' % (tuple(x[:2]), cont))
        self.N = x[1]
        if self.static and bottom[2].shape[0] != self.N:
            raise self.error('the static input has %d streams, x has %d' % (bottom[2].shape[0], self.N))
        state_shape = (1, self.N, self.H)
        for b in bottom[len(bottom) - self.exposed:]:
            if tuple(b.shape) != state_shape:
                raise self.error('hidden state bottom %s must be %s' % (b.shape, state_shape))
        top[0].reshape((self.T, self.N, self.H))
        for t in top[1:]:
            t.reshape(state_shape)

    def _weights(self):
        """(W_x, b, W_static or None, W_h) as device tensors."""
        w = [b.tdata for b in self.blobs]
        return w[0], w[1], (w[2] if self.static else None), w[3 if self.static else 2]

    def _initial_state(self, bottom):
        if self.exposed:
            return [b.tdata[0] for b in bottom[-self.exposed:]]
        shape = (self.N, self.H)
        if self.state is None or tuple(self.state[0].shape) != shape:
            # Caffe's state buffers start zeroed (after a change of N they are fresh again).
            return [torch.zeros(shape, device=bottom[0].tdata.device) for _ in range(self.states)]
        return self.state

    def forward(self, bottom, top):
        W_x, b, W_s, W_h = self._weights()
        x = bottom[0].tdata.reshape(self.T, self.N, -1)
        cont = bottom[1].tdata
        xw = x @ W_x.t() + b
        if self.static:
            xw = xw + (bottom[2].tdata.reshape(self.N, -1) @ W_s.t()).unsqueeze(0)
        out, final = self.run(xw, cont, self._initial_state(bottom), W_h)
        self.state = final
        top[0].tdata = out
        for t, s in zip(top[1:], final):
            t.tdata = s.unsqueeze(0)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[1]:
            raise self.error('cannot backpropagate to the sequence continuation indicators')
        W_x, b, W_s, W_h = self._weights()
        dxw, dW_h = self.backprop(top[0].tdiff, bottom[1].tdata, W_h)
        x = bottom[0].tdata.reshape(self.T, self.N, -1)
        grads = [torch.einsum('tng,tnk->gk', dxw, x), dxw.sum((0, 1))]
        bottom[0].tdiff = (dxw @ W_x).reshape(bottom[0].shape)
        if self.static:
            ds = dxw.sum(0)
            xs = bottom[2].tdata.reshape(self.N, -1)
            grads.append(ds.t() @ xs)
            bottom[2].tdiff = (ds @ W_s).reshape(bottom[2].shape)
        grads.append(dW_h)
        grads += self.output_grads()
        # The internal net always accumulates every parameter's diff.
        for blob, g in zip(self.blobs, grads):
            blob.tdiff.add_(g)

    def output_grads(self):
        return []


@register('RNN')
class RNN(Recurrent):
    """h_t = tanh(W_hh (cont_t h_{t-1}) + W_xh x_t + b_h [+ W_xh_static x_static]),
    o_t = tanh(W_ho h_t + b_o); the top is o (T x N x num_output)."""

    def param_shapes(self, k, k_static):
        return super().param_shapes(k, k_static) + [((self.H, self.H), False), ((self.H,), True)]

    def run(self, xw, cont, state, W_h):
        h = state[0]
        hc, hs = [], []
        for t in range(self.T):
            hc.append(h * cont[t].unsqueeze(1))
            h = torch.tanh(hc[-1] @ W_h.t() + xw[t])
            hs.append(h)
        hs = torch.stack(hs)
        W_o, b_o = (b.tdata for b in self.blobs[-2:])
        o = torch.tanh(hs @ W_o.t() + b_o)
        self._saved = torch.stack(hc), hs, o
        return o, [h]

    def backprop(self, do, cont, W_h):
        hc, hs, o = self._saved
        W_o = self.blobs[-2].tdata
        dpre_o = do * (1 - o * o)
        self._out_grads = [torch.einsum('tnh,tnk->hk', dpre_o, hs), dpre_o.sum((0, 1))]
        dhs = dpre_o @ W_o
        dpre = torch.empty_like(dhs)
        carry = torch.zeros_like(dhs[0])
        for t in range(self.T - 1, -1, -1):
            dpre[t] = (dhs[t] + carry) * (1 - hs[t] * hs[t])
            carry = (dpre[t] @ W_h) * cont[t].unsqueeze(1)
        return dpre, torch.einsum('tng,tnk->gk', dpre, hc)

    def output_grads(self):
        return self._out_grads


@register('LSTM')
class LSTM(Recurrent):
    """Gates W_hc (cont_t h_{t-1}) + W_xc x_t + b_c [+ W_xc_static x_static] feed an
    LSTMUnit step; the top is h (T x N x num_output)."""
    states = 2
    gate_factor = 4

    def run(self, xw, cont, state, W_h):
        h, c = state
        hc, cs_prev, cs, gates, hs = [], [], [], [], []
        for t in range(self.T):
            hc.append(h * cont[t].unsqueeze(1))
            cs_prev.append(c)
            c, h, gt = unit_forward(c, hc[-1] @ W_h.t() + xw[t], cont[t])
            cs.append(c)
            gates.append(gt)
            hs.append(h)
        self._saved = torch.stack(hc), cs_prev, cs, gates
        return torch.stack(hs), [h, c]

    def backprop(self, dh_top, cont, W_h):
        hc, cs_prev, cs, gates = self._saved
        dX = torch.empty(dh_top.shape[:2] + (4 * self.H,), device=dh_top.device)
        carry = torch.zeros_like(dh_top[0])
        dc = torch.zeros_like(dh_top[0])  # c_T's diff: nothing consumes it
        for t in range(self.T - 1, -1, -1):
            dc, dX[t] = unit_backward(cs_prev[t], cs[t], gates[t], dc, dh_top[t] + carry)
            carry = (dX[t] @ W_h) * cont[t].unsqueeze(1)
        return dX, torch.einsum('tng,tnk->gk', dX, hc)
