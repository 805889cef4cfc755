"""NYUDv2 with the 40 classes of Gupta et al.: color, HHA, and their fusions.

Modalities: 'color' (BGR), 'hha' (HHA depth encoding), 'color-d' (early fusion: color
and log depth stacked into 4 channels), 'color-hha' (late fusion: a stream for each,
scores averaged). Splits 'trainval' and 'test'.
"""
from torchcaffe.coord_map import crop
from torchcaffe.net_spec import NetSpec, layers as L, params as P

from . import fcn, vgg
from .blocks import score, seg_loss, upsample
from .data import input_data, python_data

CLASSES = 40
MEANS = {'color': (116.19, 97.203, 92.318), 'hha': (132.431, 94.076, 118.477),
         'depth': (7.844,)}  # depth: of log depth
CHANNELS = {'color': 3, 'hha': 3, 'depth': 1}
HEIGHT, WIDTH = 425, 560  # the cropped NYUDv2 images
# Tops of the data layer (dataset kinds) and the net's names for them.
TOPS = {'color': (('color', 'label'), ('data', 'label')),
        'hha': (('hha', 'label'), ('data', 'label')),
        'color-d': (('color', 'depth', 'label'), ('color', 'depth', 'label')),
        'color-hha': (('color', 'hha', 'label'), ('color', 'hha', 'label'))}


def inputs(n, split, modality):
    """Add the tops of ``modality`` for ``split``; deploy nets get no label."""
    kinds, names = TOPS[modality]
    if split == 'deploy':
        input_data(n, {name: (1, CHANNELS[kind], HEIGHT, WIDTH)
                       for kind, name in zip(kinds, names) if kind != 'label'})
    else:
        python_data(n, 'NYUDSegDataLayer', names, nyud_dir='nyud', split=split,
                    tops=list(kinds), mean={k: MEANS[k] for k in kinds if k != 'label'},
                    seed=1337)


def fcn32s(split, modality):
    """FCN-32s on VGG16 for ``modality``."""
    n = NetSpec()
    inputs(n, split, modality)
    deploy = split == 'deploy'
    if modality in ('color', 'hha'):
        return fcn.vgg16_fcn(n, CLASSES, deploy=deploy)
    if modality == 'color-d':
        return _early_fusion(n, deploy)
    return _late_fusion(n, deploy)


def _early_fusion(n, deploy):
    n.data = L.Concat(n.color, n.depth)
    # conv1_1 sees 4 channels, so it is renamed: VGG's 3-channel weights do not load.
    top = vgg.trunk(n, n.data, first_conv='conv1_1_bgrd',
                    dropout_ratio=None if deploy else 0.5)
    fcn.head(n, top, n.data, CLASSES)
    if not deploy:
        n.loss = seg_loss(n.score, n.label)
    return n.to_proto()


def _late_fusion(n, deploy):
    for stream in ('color', 'hha'):
        top = vgg.trunk(n, n[stream], suffix=stream, dropout_ratio=None if deploy else 0.5)
        n['score_fr' + stream] = score(top, CLASSES)
    n.score_fused = L.Eltwise(n.score_frcolor, n.score_frhha, operation=P.Eltwise.SUM,
                              coeff=[0.5, 0.5])
    n.upscore = upsample(n.score_fused, CLASSES, 64, 32)
    n.score = crop(n.upscore, n.color)
    if not deploy:
        n.loss = seg_loss(n.score, n.label)
    return n.to_proto()
