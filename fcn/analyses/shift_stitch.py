"""Dense output from a coarse net (paper, section 3.2): shift-and-stitch, and filter dilation.

A net whose output stride is f scores one input position in f along each axis.

- Shift-and-stitch runs the net f x f times, on the input shifted up by y and left by
  x for every (y, x) in {0..f-1}^2, and interlaces the outputs: output (i, j) of
  shift (y, x) lands at (f i + y, f j + x).
- Filter dilation (the a trous trick, filter "rarefaction") gets the same output in
  one pass: set the stride s of a subsampling layer to 1 and dilate every later
  filter by s, f'_ij = f_{i/s, j/s} where s divides i and j, else 0; repeat layer by
  layer until no subsampling is left. Caffe dilates convolutions by their
  ``dilation`` field, so the weights stay as they are.

For a net without padding both equal the naive evaluation of the net on every
window of its receptive field; with padding they differ near the borders, where
shifting moves the padding. Caffe's Pooling has no dilation, so a pooling layer
may not follow a de-strided layer: subsample there with a convolution, or keep
that part of the net coarse and stitch the rest.

As a command, it writes the dilated net of a prototxt (weights load unchanged):

    python shift_stitch.py twin.prototxt --destride pool5 --out dense.prototxt
"""
import argparse
import sys

import numpy as np

from torchcaffe.coord_map import PASS_THROUGH_LAYERS, UndefinedMapException, conv_params
from torchcaffe.formats import prototxt, read_net

# Layers that act on each position alone (or across channels), so a denser input
# needs no change to them.
POINTWISE = (PASS_THROUGH_LAYERS - {'LRN'}) | {'Softmax'}


def shift_and_stitch(net, image, f, output=None):
    """Dense ``output`` (default: the net's first) of ``net`` on ``image`` by f x f shifted passes.

    ``net`` is a Net of either backend with one input; ``image`` is N x C x H x W.
    Each pass reshapes the input to the shifted image. The result covers the
    positions every shift reaches; with Caffe's rounding up in pooling the last
    row and column may come from windows clipped by the image border.
    """
    name = net.inputs[0]
    output = output or net.outputs[0]
    passes = {}
    for y in range(f):
        for x in range(f):
            shifted = np.ascontiguousarray(image[:, :, y:, x:])
            net.blobs[name].reshape(*shifted.shape)
            net.reshape()
            passes[y, x] = net.forward(**{name: shifted})[output].copy()
    height = min(f * out.shape[2] + y for (y, x), out in passes.items())
    width = min(f * out.shape[3] + x for (y, x), out in passes.items())
    first = passes[0, 0]
    dense = np.empty(first.shape[:2] + (height, width), first.dtype)
    for (y, x), out in passes.items():
        cells = dense[:, :, y::f, x::f]
        cells[...] = out[:, :, :cells.shape[2], :cells.shape[3]]
    return dense


def _isotropic(layer):
    """(stride, dilated kernel extent, pad) of a Convolution or Pooling layer, equal on both axes."""
    _, *values = conv_params(layer)
    out = []
    for value in values:
        if len(set(value)) != 1:
            raise ValueError("layer '%s' differs along its axes (%s); only square geometry is handled"
                             % (layer.name, ', '.join(map(str, value))))
        out.append(int(value[0]))
    return tuple(out)


def geometry(net):
    """{blob: (stride, receptive field, offset)} of NetParameter ``net``, in input pixels.

    Position i of a blob sees the input pixels offset + stride i up to offset +
    stride i + rf - 1 (offset < 0 where padding reaches outside the input). Blobs
    below a layer without such a map (fully connected, upsampling, loss) are left out.
    """
    geo = {}
    for layer in net.layer:
        if not layer.bottom:
            geo.update((top, (1, 1, 0)) for top in layer.top)
            continue
        if any(b not in geo for b in layer.bottom):
            continue
        strides = {geo[b][0] for b in layer.bottom}
        if len(strides) > 1:
            continue
        stride = strides.pop()
        lo = min(geo[b][2] for b in layer.bottom)
        hi = max(geo[b][2] + geo[b][1] - 1 for b in layer.bottom)
        if layer.type in ('Convolution', 'Pooling'):
            try:
                s, k, p = _isotropic(layer)
            except UndefinedMapException:  # global pooling
                continue
            lo, hi, stride = lo - stride * p, hi + stride * (k - 1 - p), stride * s
        elif not (layer.type in POINTWISE | {'LRN'} or
                  layer.type == 'Concat' and layer.concat_param.axis == 1):
            continue
        geo.update((top, (stride, hi - lo + 1, lo)) for top in layer.top)
    return geo


def dilate(net, destride):
    """A copy of NetParameter ``net`` with layers ``destride`` at stride 1 and later filters dilated.

    A blob below de-strided layers is denser than in ``net`` by the product of their
    strides, d; each convolution on it gets d times its dilation and pad (the pad
    keeps positions aligned); its own stride stays unless it is de-strided too. Raises
    ValueError for what has no dilated form in Caffe: pooling, upsampling, cropping or
    fully connected layers on a denser blob, or blobs of different density joined.
    """
    out = net.__class__()
    out.CopyFrom(net)
    todo = set(destride)
    density = {}
    for layer in out.layer:
        found = {density.get(b, 1) for b in layer.bottom} or {1}
        if len(found) > 1:
            raise ValueError("layer '%s' joins blobs of different density %s"
                             % (layer.name, sorted(found)))
        d = found.pop()
        if layer.type == 'Convolution':
            p = layer.convolution_param
            if d > 1:
                p.dilation[:] = [v * d for v in (p.dilation or [1])]
                p.pad[:] = [v * d for v in p.pad]
                for field in ('pad_h', 'pad_w'):
                    if p.HasField(field):
                        setattr(p, field, getattr(p, field) * d)
            if layer.name in todo:
                d *= _isotropic(layer)[0]
                del p.stride[:]
                p.ClearField('stride_h')
                p.ClearField('stride_w')
        elif layer.type == 'Pooling':
            if d > 1:
                raise ValueError("pooling layer '%s' follows a de-strided layer: Caffe's Pooling has "
                                 "no dilation (subsample with a convolution instead)" % layer.name)
            if layer.name in todo:
                d = _isotropic(layer)[0]
                p = layer.pooling_param
                p.stride = 1
                p.ClearField('stride_h')
                p.ClearField('stride_w')
        elif layer.name in todo:
            raise ValueError("layer '%s' is a %s; only Convolution and Pooling layers have a stride"
                             % (layer.name, layer.type))
        elif d > 1 and not (layer.type in POINTWISE or
                            layer.type == 'LRN' and layer.lrn_param.norm_region == 0 or
                            layer.type == 'Concat' and layer.concat_param.axis == 1):
            raise ValueError("layer '%s' (%s) follows a de-strided layer and has no dilated form"
                             % (layer.name, layer.type))
        todo.discard(layer.name)
        density.update((top, d) for top in layer.top)
    if todo:
        raise ValueError('no such layer(s) to de-stride: %s' % ', '.join(sorted(todo)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('net', help='prototxt of the coarse net')
    parser.add_argument('--destride', nargs='+', required=True,
                        help='Convolution/Pooling layers to run at stride 1')
    parser.add_argument('--out', required=True, help='where to write the dilated prototxt')
    args = parser.parse_args(argv)
    net = read_net(args.net)
    try:
        dense = dilate(net, args.destride)
    except ValueError as e:
        sys.exit('shift_stitch: %s' % e)
    for old, new in zip(net.layer, dense.layer):
        if old != new:
            changes = ['stride 1'] if new.name in args.destride else []
            if new.convolution_param.dilation:
                changes.append('dilation %d' % new.convolution_param.dilation[0])
            print('%-24s %s' % (new.name, ', '.join(changes)))
    prototxt.write(args.out, dense)
    print('wrote %s' % args.out)


if __name__ == '__main__':
    main()
