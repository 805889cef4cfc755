"""Convolution and Deconvolution (N spatial axes, group, dilation, optional bias)."""
import torch

from .. import device, repeats, winograd
from ..layer import Layer, register, axis_index

aten = torch.ops.aten
# Winograd's F(4x4, 3x3) outruns oneDNN's direct kernels on an AVX2 CPU from this many
# channels in and out: forward and input gradient, weight gradient (bench/README)
WINOGRAD_CHANNELS, WINOGRAD_WEIGHT_CHANNELS = 128, 64


def _spatial(param, repeated, n, default, h=None, w=None):
    """One value per spatial axis from Caffe's `x` list or its `x_h`/`x_w` pair."""
    if h and (param.HasField(h) or param.HasField(w)):
        if n != 2:
            raise ValueError('%s/%s only work with 2 spatial axes' % (h, w))
        return [getattr(param, h), getattr(param, w)]
    values = list(getattr(param, repeated))
    if not values:
        return [default] * n
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError('%s must be given once or %d times, not %d' % (repeated, n, len(values)))
    return values


def geometry(layer, p, n):
    """(kernel, stride, pad, dilation), one value per spatial axis, from ConvolutionParameter
    ``p`` with Caffe's checks; errors name ``layer``."""
    if p.HasField('kernel_h') or p.HasField('kernel_w'):
        if p.HasField('kernel_h') != p.HasField('kernel_w') or n != 2:
            raise layer.error('kernel_h and kernel_w go together, with 2 spatial axes')
        if len(p.kernel_size):
            raise layer.error('give kernel_size or kernel_h/kernel_w, not both')
    elif not len(p.kernel_size):
        raise layer.error('kernel_size (or kernel_h and kernel_w) is required')
    for name, h in (('stride', 'stride_h'), ('pad', 'pad_h')):
        if p.HasField(h) and len(getattr(p, name)):
            raise layer.error('give %s or %s/%s_w, not both' % (name, h, name))
    try:
        values = (_spatial(p, 'kernel_size', n, None, 'kernel_h', 'kernel_w'),
                  _spatial(p, 'stride', n, 1, 'stride_h', 'stride_w'),
                  _spatial(p, 'pad', n, 0, 'pad_h', 'pad_w'),
                  _spatial(p, 'dilation', n, 1))
    except ValueError as e:
        raise layer.error(str(e)) from None
    if any(k <= 0 for k in values[0]) or any(s <= 0 for s in values[1]):
        raise layer.error('kernel and stride must be positive')
    return values


def _patches(x, kernel, stride, pad, dilation, out, rows=None):
    """im2col of NCHW ``x`` in NHWC order for output rows ``rows`` (a range; all by
    default): rows are output pixels (image-major), columns (kernel row, kernel column,
    channel), the order of a channels_last weight's rows."""
    r0, r1 = rows or (0, out[0])
    lo = r0 * stride[0] - pad[0]
    hi = (r1 - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1 - pad[0]
    h = x.shape[2]
    xh = x.permute(0, 2, 3, 1)[:, max(lo, 0):min(hi, h)]
    pads = (0, 0, pad[1], pad[1], max(0, -lo), max(0, hi - h))
    if any(pads):
        xh = torch.nn.functional.pad(xh, pads)
    n, c = xh.shape[0], xh.shape[3]
    sn, sh, sw, sc = xh.stride()
    view = xh.as_strided((n, r1 - r0, out[1], kernel[0], kernel[1], c),
                         (sn, sh * stride[0], sw * stride[1], sh * dilation[0], sw * dilation[1], sc))
    return view.reshape(n * (r1 - r0) * out[1], -1)


def _pixels(t):
    """An NCHW map as a matrix: rows output pixels (image-major), columns channels."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def _parameter_gradients(dy, x, kernel, stride, pad, dilation, need):
    """The (weight, bias) gradients of ``need`` = (weight, bias) for output diff ``dy``,
    the weight's in NHWC order, as matrix products summed over strips of output rows:
    each strip's im2col stays in cache."""
    n, c = x.shape[:2]
    out = dy.shape[2:]
    g = _pixels(dy)
    gb = g.sum(0, dtype=torch.float32) if need[1] else None
    if not need[0]:
        return None, gb
    k = c * kernel[0] * kernel[1]
    # a strip of about 4 MB, but at least 256 output pixels to keep the products efficient
    rows = max(1, max(256, (4 << 20) // (k * x.element_size())) // (n * out[1]))
    gw = g.new_zeros((g.shape[1], k), dtype=torch.float32)
    for r0 in range(0, out[0], rows):
        r1 = min(out[0], r0 + rows)
        gs = g.view(n, out[0], out[1], -1)[:, r0:r1].reshape(-1, g.shape[1]).t()
        cols = _patches(x, kernel, stride, pad, dilation, out, (r0, r1))
        if g.dtype == torch.float32:
            gw.addmm_(gs, cols)
        else:  # bfloat16 products, summed in float32
            gw += gs @ cols
    return gw.to(g.dtype).view(-1, kernel[0], kernel[1], c).permute(0, 3, 1, 2), gb


def _matmul_forward(x, w, bias, stride, pad, dilation, out):
    """Convolution forward as im2col and one matrix product (Caffe's own scheme), in
    NHWC order: the result is channels_last."""
    o = w.shape[0]
    cols = _patches(x, w.shape[2:], stride, pad, dilation, out)
    wt = w.permute(0, 2, 3, 1).reshape(o, -1).t()
    y = cols @ wt if bias is None else torch.addmm(bias, cols, wt)
    return y.view(x.shape[0], out[0], out[1], o).permute(0, 3, 1, 2)


def _matmul_backward(dy, x, w, stride, pad, dilation, need):
    """Convolution backward as im2col and matrix products (Caffe's own scheme), in NHWC
    order so channels_last operands need no copies; ``need`` = (input, weight, bias)."""
    o, c, kh, kw = w.shape
    n, _, oh, ow = dy.shape
    gx = None
    gw, gb = _parameter_gradients(dy, x, (kh, kw), stride, pad, dilation, need[1:])
    if need[0]:
        # the columns' diff transposed, (kernel tap, C) by pixel: MKL's product runs faster
        # in this orientation for fc6's shapes (0.50 against 0.60 s, bench/README)
        gcols = (w.permute(2, 3, 1, 0).reshape(-1, o) @ _pixels(dy).t()).view(kh, kw, c, n, oh, ow)
        h, wd = x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]
        # col2im: each kernel tap adds its slice (accumulated in float32)
        acc = dy.new_zeros((n, h, wd, c), dtype=torch.float32)
        for i in range(kh):
            for j in range(kw):
                r, q = i * dilation[0], j * dilation[1]
                acc[:, r:r + stride[0] * (oh - 1) + 1:stride[0],
                    q:q + stride[1] * (ow - 1) + 1:stride[1]] += gcols[i, j].permute(1, 2, 3, 0)
        gx = acc[:, pad[0]:h - pad[0], pad[1]:wd - pad[1]].permute(0, 3, 1, 2).to(x.dtype)
    return gx, gw, gb


def _cast(blob, dtype):
    """The blob's data in ``dtype``, converted once per change of the data."""
    t = blob.tdata
    return t if t.dtype == dtype else blob.derived_data(dtype, lambda t: t.to(dtype))


class _ConvBase(Layer):
    min_bottoms = 1
    min_tops = 1
    equal_bottoms_tops = True
    transposed = False
    low_precision = True
    fuse_relu = False

    def layer_setup(self, bottom, top):
        p = self.param.convolution_param
        shape = bottom[0].shape
        self.axis = axis_index(p.axis, len(shape))
        n = len(shape) - self.axis - 1
        self.kernel, self.stride, self.pad, self.dilation = geometry(self, p, n)
        self.channels = shape[self.axis]
        self.num_output = p.num_output
        self.group = p.group
        if self.num_output <= 0:
            raise self.error('num_output must be positive')
        if self.channels % self.group or self.num_output % self.group:
            raise self.error('channels (%d) and num_output (%d) must be multiples of group (%d)'
                             % (self.channels, self.num_output, self.group))
        if self.transposed:
            wshape = [self.channels, self.num_output // self.group] + self.kernel
        else:
            wshape = [self.num_output, self.channels // self.group] + self.kernel
        shapes = [wshape] + ([[self.num_output]] if p.bias_term else [])
        if self.blobs:
            self.check_param_shapes(*shapes)
        else:
            self.add_param(wshape, p.weight_filler if p.HasField('weight_filler') else None)
            if p.bias_term:
                self.add_param([self.num_output], p.bias_filler if p.HasField('bias_filler') else None)
        self.bias_term = p.bias_term
        # aten.convolution's arguments after input, weight and bias
        self.conv_args = (self.stride, self.pad, self.dilation, self.transposed, [0] * n, self.group)
        if self.axis != 1:
            raise self.error('only axis 1 (NCHW) is supported')

    def output_size(self, i, size):
        raise NotImplementedError

    def reshape(self, bottom, top):
        ndim = len(bottom[0].shape)
        for i, (b, t) in enumerate(zip(bottom, top)):
            shape = b.shape  # N, C, spatial axes (axis 1 is checked at setup)
            if len(shape) != ndim:
                raise self.error('bottom %d has shape %s, bottom 0 has %s: all bottoms need %d axes'
                                 % (i, shape, bottom[0].shape, ndim))
            if shape[1] != self.channels:  # a reshaped input: the weights are fixed at setup
                raise self.error('bottom %d of shape %s has %d channels; the layer was set up for %d '
                                 '(weights %s)' % (i, shape, shape[1], self.channels, self.blobs[0].shape))
            spatial = tuple(map(self.output_size, range(ndim - 2), shape[2:]))
            if spatial and min(spatial) <= 0:
                raise self.error('input %s is too small for kernel %s' % (shape, self.kernel))
            t.reshape((shape[0], self.num_output) + spatial)

    def _dtype(self):
        return device.compute_dtype() if self.low_precision else torch.float32

    def _operand(self, t):
        """``t`` in the layer's compute dtype and the engine's memory format."""
        dtype = self._dtype()
        if t.dtype != dtype:
            t = t.to(dtype)
        if device.channels_last() and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _weight(self):
        """The weights as an operand. In channels_last mode the blob itself (data and
        diff) is re-stored channels_last once, so no pass copies it again and gradients
        add up without a layout change; its numpy views (strided) alias it."""
        blob = self.blobs[0]
        if device.channels_last() and blob.tdata.dim() == 4 and \
                not blob.tdata.is_contiguous(memory_format=torch.channels_last):
            blob.tdata = blob.tdata.contiguous(memory_format=torch.channels_last)
            blob.tdiff = blob.tdiff.contiguous(memory_format=torch.channels_last)
        return self._operand(_cast(blob, self._dtype()))

    def _bias(self, dtype):
        return _cast(self.blobs[1], dtype) if self.bias_term else None

    def _cpu_channels_last(self, x):
        """Whether the channels_last mode's CPU paths apply (2-d convolution on CPU)."""
        return device.channels_last() and not self.transposed and x.dim() == 4 and x.device.type == 'cpu'

    def _by_matmul(self, x, out):
        """Whether a pass with output shape ``out`` runs as matrix products: on the
        channels_last CPU path, for an ungrouped convolution with fewer output pixels
        than output channels (an FCN's fc6 and fc7), where oneDNN's direct kernels run
        well below a GEMM's rate (backward always; forward in float32 where
        ``_matmul_forward_is_faster``, bench/README)."""
        return self._cpu_channels_last(x) and self.group == 1 and out[2] * out[3] < self.num_output

    def _matmul_forward_is_faster(self):
        """Whether a float32 forward on the matrix-product path beats oneDNN's kernels:
        on Intel CPUs (fast_cpu_gemm), and for a 1x1 kernel on CPUs without AVX-512,
        where oneDNN's takes 2.6x the time (fc7: 0.21 s against 0.08 s, bench/README)."""
        return device.fast_cpu_gemm() or (all(k == 1 for k in self.kernel) and not device.avx512())

    def _winograd(self, x, channels):
        """Whether a pass on operand ``x`` runs by Winograd's F(4x4, 3x3) (winograd.py): on
        the channels_last CPU path without AVX-512 (where it was measured), in float32, for
        an ungrouped 3x3 stride-1 kernel with at least ``channels`` channels in and out."""
        return (self._cpu_channels_last(x) and not device.avx512() and x.dtype == torch.float32
                and self.group == 1 and self.kernel == [3, 3] and self.stride == [1, 1]
                and self.dilation == [1, 1] and min(self.channels, self.num_output) >= channels)

    def _packed(self, x, pad):
        """The weights in oneDNN's blocked layout for inputs shaped like ``x``, on the
        channels_last CPU path: the same kernels without a weight reorder on each call,
        and a following ReLU fused."""
        if not self._cpu_channels_last(x) or (x.dtype == torch.bfloat16 and not device.onednn_bf16()):
            return None
        w = self._weight()
        key = ('oneDNN', x.dtype, tuple(x.shape), tuple(pad))
        return self.blobs[0].derived_data(key, lambda t: torch.ops.mkldnn._reorder_convolution_weight(
            w, pad, self.stride, self.dilation, self.group, list(x.shape)))

    def _plan(self, b):
        """How to compute on ``b`` packed (repeats.plan), or None."""
        if self.transposed or len(b.shape) != 4 or not device.skip_repeats():
            return None
        extent = [d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel)]
        return repeats.plan(b, extent, self.stride, self.pad, pad_is_zero_run=True)

    def forward(self, bottom, top):
        # fuse_relu: the net says an in-place ReLU follows in this pass; relu_applied
        # tells it whether this layer applied it.
        self.relu_applied = False
        for b, t in zip(bottom, top):
            plan = self._plan(b)
            x = self._operand(b.tdata if plan is None else plan.input)
            y = self._convolve(x, self.pad if plan is None else plan.pad, t.shape)
            if plan is None:
                t.tdata = y
            else:
                t.set_packed(plan.output(y, t.shape))

    def _convolve(self, x, pad, shape):
        """The forward convolution of operand ``x`` with padding ``pad`` (``shape``: the
        full top's), the in-place ReLU after it applied where it can be."""
        bias = self._bias(x.dtype)
        if x.dtype == torch.float32 and self._by_matmul(x, shape) and self._matmul_forward_is_faster():
            self.relu_applied = self.fuse_relu
            # the layer's own size rule, with the padding difference folded into the input
            out = [self.output_size(i, n + 2 * (p - self.pad[i]))
                   for i, (n, p) in enumerate(zip(x.shape[2:], pad))]
            y = _matmul_forward(x, self._weight(), bias, self.stride, pad, self.dilation, out)
            return y.relu_() if self.fuse_relu else y
        if self._winograd(x, WINOGRAD_CHANNELS):
            self.relu_applied = self.fuse_relu
            u = self.blobs[0].derived_data('winograd', winograd.kernel)
            return winograd.conv3x3(x, u, bias, pad, self.fuse_relu)
        packed = self._packed(x, pad)
        if packed is None:
            return aten.convolution(x, self._weight(), bias, self.stride, pad, *self.conv_args[2:])
        self.relu_applied = self.fuse_relu
        return torch.ops.mkldnn._convolution_pointwise(
            x, packed, bias, pad, self.stride, self.dilation, self.group,
            'relu' if self.fuse_relu else 'none', [], '')

    def _convolution_backward(self, dy, x, w, need, pad):
        """The convolution backward of diff ``dy`` for operands ``x`` and ``w`` with
        padding ``pad``. On the channels_last CPU path without AVX-512, oneDNN's NHWC
        weight gradient is 4x slower than its NCHW one (bench/README): there the weight
        gradient is computed in strips of matrix products or by Winograd (float32,
        ungrouped), else in NCHW, whose input diff then stays NCHW for the layers below."""
        args = (self.stride, pad) + self.conv_args[2:]
        avx2 = self._cpu_channels_last(x) and not device.avx512()
        if avx2 and self.group == 1 and x.dtype == torch.float32:
            dy = self._operand(dy)
            gi = None
            if need[0] and self._winograd(x, WINOGRAD_CHANNELS) and max(pad) <= 2:
                gi = winograd.input_gradient(dy, w, pad)
            elif need[0]:
                gi = aten.convolution_backward(dy, x, w, None, *args, [True, False, False])[0]
            by_winograd = need[1] and self._winograd(x, WINOGRAD_WEIGHT_CHANNELS)
            gw, gb = _parameter_gradients(dy, x, self.kernel, self.stride, pad, self.dilation,
                                          (need[1] and not by_winograd, need[2]))
            return gi, winograd.weight_gradient(dy, x, pad) if by_winograd else gw, gb
        if avx2:
            dy, x, w = dy.to(x.dtype).contiguous(), x.contiguous(), w.contiguous()
        else:
            dy = self._operand(dy)
        gi, gw, gb = aten.convolution_backward(dy, x, w, [self.num_output] if need[2] else None, *args, need)
        if avx2 and gw is not None:
            gw = gw.contiguous(memory_format=torch.channels_last)
        return gi, gw, gb

    def backward(self, top, propagate_down, bottom):
        w = self._weight()
        need_w = self.param_propagate_down[0]
        need_b = self.bias_term and self.param_propagate_down[1]
        for t, down, b in zip(top, propagate_down, bottom):
            if not (down or need_w or need_b):
                continue
            plan = self._plan(b) if need_w else None  # before reading b's data unpacks it
            x = self._operand(b.tdata)
            need = [bool(down), bool(need_w), bool(need_b)]
            if self._by_matmul(x, t.shape):
                gi, gw, gb = _matmul_backward(self._operand(t.tdiff), x, w, self.stride, self.pad,
                                              self.dilation, need)
            elif plan is None:
                gi, gw, gb = self._convolution_backward(t.tdiff, x, w, need, self.pad)
            else:  # the weight gradient on the packed input: windows that repeat counted once
                gi, _, gb = self._convolution_backward(t.tdiff, x, w, [need[0], False, need[2]], self.pad)
                _, gw, _ = self._convolution_backward(repeats.fold(t.tdiff, plan.runs),
                                                      self._operand(plan.input), w, [False, True, False],
                                                      plan.pad)
            if need_w:
                self.blobs[0].add_diff(gw)
            if need_b:
                self.blobs[1].add_diff(gb)
            if down:
                b.tdiff = gi


@register('Convolution')
class Convolution(_ConvBase):
    def output_size(self, i, size):
        extent = self.dilation[i] * (self.kernel[i] - 1) + 1
        return (size + 2 * self.pad[i] - extent) // self.stride[i] + 1


@register('Deconvolution')
class Deconvolution(_ConvBase):
    transposed = True
    # float32 in bf16 mode too: an FCN's upsampling is a sliver of its work, and torch's
    # bfloat16 transposed convolution on CPU takes seconds for a 64 x 64 kernel
    low_precision = False

    def output_size(self, i, size):
        extent = self.dilation[i] * (self.kernel[i] - 1) + 1
        return self.stride[i] * (size - 1) + extent - 2 * self.pad[i]
