"""The model card (model.json): what a trained net needs beside its weights to label images.

A run directory of ``fcn train`` holds one beside its deploy prototxt and weights,
so ``fcn.load(RUN)`` and ``fcn infer --model RUN`` need nothing else. Fields:

- ``format``: 1
- ``classes``: class names, index order (scores channel k is class k)
- ``mean``: per-channel mean subtracted from the 0-255 input, in ``channel_order``
- ``channel_order``: 'BGR' (Caffe's, as every FCN) or 'RGB'
- ``palette``: one [R, G, B] color per class, for label PNGs and overlays
- ``deploy``, ``weights``: paths relative to the card's directory
- ``score``: the blob of class scores (N x classes x H x W, cropped to the input)
- ``ignore_label``: the label value that is never scored (255)
- ``input_size``: [H, W] of the training images when they share one size, else None (a hint:
  any size runs)
"""
import json
import os

from fcn.datasets import VOID
from torchcaffe.formats.files import atomic_write

FILE = 'model.json'
FORMAT = 1
ORDERS = ('BGR', 'RGB')


class CardError(ValueError):
    """A model card is missing, malformed, or names files that are not there."""


def write(directory, classes, mean, palette, deploy, weights, score='score', channel_order='BGR',
          input_size=None):
    """Write ``directory``/model.json; ``deploy`` and ``weights`` are stored relative to it."""
    directory = os.path.abspath(directory)
    card = {'format': FORMAT, 'classes': list(classes), 'mean': [float(m) for m in mean],
            'channel_order': channel_order, 'palette': [[int(c) for c in rgb] for rgb in palette],
            'deploy': os.path.relpath(os.path.abspath(deploy), directory),
            'weights': os.path.relpath(os.path.abspath(weights), directory),
            'score': score, 'ignore_label': VOID,
            'input_size': list(input_size) if input_size else None}
    check(card, os.path.join(directory, FILE))
    path = os.path.join(directory, FILE)
    atomic_write(path, (json.dumps(card, indent=1) + '\n').encode())
    return path


def read(path):
    """The card at ``path`` (a model.json or the directory holding one), paths made absolute."""
    if os.path.isdir(path):
        path = os.path.join(path, FILE)
    try:
        with open(path) as f:
            card = json.load(f)
    except FileNotFoundError:
        raise CardError('%s: no model card (a run directory of fcn train has one)' % path) from None
    except (OSError, ValueError) as e:
        raise CardError('%s: not a readable model card: %s' % (path, e)) from None
    check(card, path)
    here = os.path.dirname(os.path.abspath(path))
    for key in ('deploy', 'weights'):
        card[key] = os.path.normpath(os.path.join(here, card[key]))
        if not os.path.isfile(card[key]):
            raise CardError('%s: its %s file %s is missing' % (path, key, card[key]))
    return card


def check(card, path):
    """Raise CardError naming ``path`` and the field when ``card`` is not a valid card."""
    def fail(message):
        raise CardError('%s: %s' % (path, message))
    if not isinstance(card, dict):
        fail('a model card is a JSON object')
    if card.get('format') != FORMAT:
        fail('format %r is not %d' % (card.get('format'), FORMAT))
    for key in ('classes', 'mean', 'channel_order', 'palette', 'deploy', 'weights', 'score'):
        if key not in card:
            fail("field '%s' is missing" % key)
    classes = card['classes']
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)):
        fail("'classes' must list at least 2 class names")
    if not (isinstance(card['mean'], list) and len(card['mean']) == 3
            and all(isinstance(m, (int, float)) for m in card['mean'])):
        fail("'mean' must be 3 numbers")
    if card['channel_order'] not in ORDERS:
        fail("'channel_order' must be one of %s, not %r" % (', '.join(ORDERS), card['channel_order']))
    palette = card['palette']
    if not (isinstance(palette, list) and len(palette) == len(classes)
            and all(isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255
                                                                 for v in c) for c in palette)):
        fail("'palette' must give one [R, G, B] (0-255) per class (%d)" % len(classes))
