"""FCNs for your own data (``fcn train``): the experiments' nets for any number of classes.

Each ``--net`` is the net of a PASCAL VOC experiment (voc.py): the same trunk, head,
crops and layer names, so weights load by name, with ``nclass`` score channels and
the data layer fcn.layers.FolderSegDataLayer (a dotted module name: the prototxts run
on either backend without the repository root on sys.path). Two things may differ:

- trunk convolutions get MSRA fillers. Caffe's default filler, constant zero, never
  learns, so a layer the initial weights do not cover (every one, from scratch) needs
  them; copied weights replace them. Score layers keep FCN's zero init, and the
  driver makes the upsampling bilinear.
- ``normalize``: the loss averaged over the pixels (the experiments sum it, except
  AlexNet's), for training from scratch at an ordinary learning rate.
"""
from torchcaffe.net_spec import NetSpec

from . import fcn
from .data import PACKAGE_MODULE, input_data, python_data

DATA_LAYER = 'FolderSegDataLayer'
# --net: (trunk, FCN stride, at-once skips, the VOC experiment it comes from)
ARCHS = {
    'fcn32s': ('vgg16', 32, False, 'voc-fcn32s'),
    'fcn16s': ('vgg16', 16, False, 'voc-fcn16s'),
    'fcn8s': ('vgg16', 8, False, 'voc-fcn8s'),
    'fcn8s-atonce': ('vgg16', 8, True, 'voc-fcn8s-atonce'),
    'alexnet': ('caffenet', 32, False, 'voc-fcn-alexnet'),
    'googlenet': ('googlenet', 32, False, 'voc-fcn-googlenet'),
}


def net(arch, nclass, data=None, shape=None, normalize=False):
    """The FCN ``arch`` scoring ``nclass`` classes, named ``arch``.

    ``data``: the parameters (param_str) of its data layer; None makes the deploy net,
    which takes an Input ``data`` of ``shape`` (1, 3, H, W) and has no dropout or loss.
    """
    trunk, stride, at_once, _ = ARCHS[arch]
    deploy = data is None
    n = NetSpec()
    if deploy:
        input_data(n, {'data': shape})
    else:
        python_data(n, DATA_LAYER, ('data', 'label'), module=PACKAGE_MODULE, **data)
    if trunk == 'vgg16':
        proto = fcn.vgg16_fcn(n, nclass, stride, at_once, deploy, normalize=normalize)
    elif trunk == 'caffenet':
        proto = fcn.alexnet_fcn(n, nclass, deploy, normalize)
    else:
        proto = fcn.googlenet_fcn(n, nclass, deploy, normalize)
    proto.name = arch
    return fcn.msra_trunk(proto)
