"""Model Zoo nets beyond FCN agree with the reference pycaffe, live, on random
weights: a ResNet (BatchNorm + Scale + Eltwise), a PReLU net, a SqueezeNet-style
net (Concat, Dropout, global pooling), an LSTM net and an AlexNet-style net whose
LRN spans more channels than it has; forward and backward within the tolerances
of the random FCN nets (tests/engine/test_live_parity.py)."""
import numpy as np
import pytest

import torchcaffe
from torchcaffe import layers as L, params as P
from torchcaffe.formats import prototxt
import golden


def conv(bottom, n, k=3, s=1, p=1, **kw):
    return L.Convolution(bottom, num_output=n, kernel_size=k, stride=s, pad=p, **kw)


def bn_scale(n, name, bottom):
    """conv -> BatchNorm -> Scale (bias) -> ReLU, ResNet's unit, tops named after ``name``."""
    setattr(n, name, conv(bottom, 4, bias_term=False))
    setattr(n, name + '_bn', L.BatchNorm(getattr(n, name), in_place=True))
    setattr(n, name + '_scale', L.Scale(getattr(n, name), bias_term=True, in_place=True))
    return getattr(n, name)


def resnet(n):
    n.data = L.Input(shape=dict(dim=[2, 3, 12, 12]))
    n.label = L.Input(shape=dict(dim=[2]))
    n.conv1 = conv(n.data, 4, k=3, s=2)
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    branch = bn_scale(n, 'res2a_branch2a', n.conv1)
    n.res2a_relu = L.ReLU(branch, in_place=True)
    branch = bn_scale(n, 'res2a_branch2b', branch)
    n.res2a = L.Eltwise(n.conv1, branch)
    n.res2a_out = L.ReLU(n.res2a, in_place=True)
    n.pool = L.Pooling(n.res2a, pool=P.Pooling.AVE, global_pooling=True)
    n.fc = L.InnerProduct(n.pool, num_output=5)
    n.loss = L.SoftmaxWithLoss(n.fc, n.label)


def prelu(n):
    n.data = L.Input(shape=dict(dim=[2, 3, 9, 9]))
    n.label = L.Input(shape=dict(dim=[2]))
    n.conv1 = conv(n.data, 4)
    n.prelu1 = L.PReLU(n.conv1, in_place=True)
    n.conv2 = conv(n.conv1, 4, s=2)
    n.prelu2 = L.PReLU(n.conv2, prelu_param=dict(channel_shared=True))
    n.fc = L.InnerProduct(n.prelu2, num_output=5)
    n.loss = L.SoftmaxWithLoss(n.fc, n.label)


def squeezenet(n):
    n.data = L.Input(shape=dict(dim=[2, 3, 15, 15]))
    n.label = L.Input(shape=dict(dim=[2]))
    n.conv1 = conv(n.data, 6, k=3, s=2, p=0)
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.conv1, pool=P.Pooling.MAX, kernel_size=3, stride=2)
    n.squeeze = conv(n.pool1, 3, k=1, p=0)
    n.squeeze_relu = L.ReLU(n.squeeze, in_place=True)
    n.expand1x1 = conv(n.squeeze, 4, k=1, p=0)
    n.expand3x3 = conv(n.squeeze, 4, k=3, p=1)
    n.concat = L.Concat(n.expand1x1, n.expand3x3)
    n.drop = L.Dropout(n.concat, dropout_ratio=0.5, in_place=True)
    n.conv10 = conv(n.concat, 5, k=1, p=0)
    n.pool10 = L.Pooling(n.conv10, pool=P.Pooling.AVE, global_pooling=True)
    n.loss = L.SoftmaxWithLoss(n.pool10, n.label)


def lstm(n):
    n.data = L.Input(shape=dict(dim=[4, 2, 3]))   # T x N x features
    n.cont = L.Input(shape=dict(dim=[4, 2]))      # 0 where a sequence starts
    n.target = L.Input(shape=dict(dim=[4, 2, 2]))
    n.lstm = L.LSTM(n.data, n.cont, recurrent_param=dict(num_output=5))
    n.fc = L.InnerProduct(n.lstm, num_output=2, axis=2)
    n.loss = L.EuclideanLoss(n.fc, n.target)


def alexnet_lrn(n):
    n.data = L.Input(shape=dict(dim=[2, 3, 19, 19]))
    n.label = L.Input(shape=dict(dim=[2]))
    n.conv1 = conv(n.data, 2, k=5, s=2, p=0)
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.norm1 = L.LRN(n.conv1, local_size=5, alpha=1e-2, beta=0.75)  # 5 > 2 channels
    n.pool1 = L.Pooling(n.norm1, pool=P.Pooling.MAX, kernel_size=3, stride=2)
    n.fc = L.InnerProduct(n.pool1, num_output=3)
    n.loss = L.SoftmaxWithLoss(n.fc, n.label)


NETS = {'resnet': resnet, 'prelu': prelu, 'squeezenet': squeezenet, 'lstm': lstm,
        'alexnet_lrn': alexnet_lrn}


def inputs(net, rng):
    """Random inputs; labels in range; LSTM sequences restarting at t = 0 and t = 2."""
    out = {}
    for name in net.inputs:
        shape = net.blobs[name].data.shape
        if name == 'label':
            out[name] = rng.randint(0, net.blobs['fc' if 'fc' in net.blobs else 'conv10'].shape[1],
                                    shape).astype(np.float32)
        elif name == 'cont':
            out[name] = np.ones(shape, np.float32)
            out[name][[0, 2]] = 0
        else:
            out[name] = rng.randn(*shape).astype(np.float32)
    return out


def fill(net, rng):
    """Random weights; BatchNorm statistics valid (variance > 0, scale factor 1)."""
    for name, blobs in net.params.items():
        kind = net.layer_dict[name].type
        for i, b in enumerate(blobs):
            b.data[...] = rng.randn(*b.shape) * 0.5
            if kind == 'BatchNorm':
                b.data[...] = [np.abs, lambda v: np.abs(v) + 0.5, lambda v: 1.0][i](b.data)


# TRAIN-phase Dropout draws from each engine's own RNG: SqueezeNet runs in TEST only.
CASES = [(name, phase) for name in sorted(NETS) for phase in ('TRAIN', 'TEST')
         if (name, phase) != ('squeezenet', 'TRAIN')]


@pytest.mark.parametrize('name, phase', CASES)
def test_zoo_net_matches_caffe(pycaffe, name, phase, tmp_path):
    n = torchcaffe.NetSpec()
    NETS[name](n)
    path = str(tmp_path / 'net.prototxt')
    param = n.to_proto()
    param.force_backward = True
    prototxt.write(path, param)
    rng = np.random.RandomState(sorted(NETS).index(name))
    ours = torchcaffe.Net(path, getattr(torchcaffe, phase))
    fill(ours, rng)
    ours.save(str(tmp_path / 'w.caffemodel'))
    theirs = pycaffe.Net(path, str(tmp_path / 'w.caffemodel'), getattr(pycaffe, phase))
    assert list(ours.blobs) == list(theirs.blobs)
    assert [l.type for l in ours.layers] == [l.type for l in theirs.layers]
    feed = inputs(ours, rng)
    for net in (ours, theirs):
        for k, v in feed.items():
            net.blobs[k].data[...] = v
    golden.assert_nets_agree(ours, theirs, skip_diffs=('label', 'cont'))
