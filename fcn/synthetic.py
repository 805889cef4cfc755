"""Small synthetic datasets in the five real on-disk layouts, with structure an FCN can learn.

Picture k of a dataset is a pure function of (seed, k): a shaded, noisy grey
background with some dull clutter and two or three objects at random positions
and sizes, later ones occluding earlier ones. Each class has its own shape,
colour and texture; per-object colour and brightness jitter, clutter, pixel
noise, JPEG compression and occlusion keep the task from being trivial.

``--out`` is a data root: every dataset lands where the experiment nets look
for it (pascal/VOC2011, sbdd/dataset, nyud, sift-flow, pascal-context with
pascal/VOC2010), so after

    python synthetic.py sbd --out /tmp/fake --n 200
    python synthetic.py voc --out /tmp/fake --n 200

``FCN_DATA_ROOT=/tmp/fake`` trains and validates on it. As in reality, SBD
re-annotates VOC pictures: id k is the same picture in both (SBD without the
void borders), and VOC's seg11valid holds only val pictures that SBD's train
split never contains.
"""
import argparse
import os

import numpy as np
import scipy.io
import scipy.ndimage
import scipy.sparse
from PIL import Image

from fcn import datasets

# Each drawn class: (shape, RGB colour, texture), in class order.
STYLES = (('disc', (210, 50, 50), 'hstripes'),
          ('square', (50, 180, 70), 'checker'),
          ('triangle', (60, 80, 215), 'dots'),
          ('cross', (225, 205, 50), 'vstripes'),
          ('diamond', (200, 60, 200), 'diagonal'),
          ('ring', (50, 200, 210), 'plain'))

SHAPES = {'disc': lambda dy, dx, r: dy ** 2 + dx ** 2 <= r ** 2,
          'square': lambda dy, dx, r: np.maximum(abs(dy), abs(dx)) <= 0.8 * r,
          'triangle': lambda dy, dx, r: (dy <= 0.7 * r) & (abs(dx) <= 0.7 * (dy + r)),
          'cross': lambda dy, dx, r: ((abs(dy) <= r / 3) & (abs(dx) <= r)) | ((abs(dx) <= r / 3) & (abs(dy) <= r)),
          'diamond': lambda dy, dx, r: abs(dy) + abs(dx) <= r,
          'ring': lambda dy, dx, r: (dy ** 2 + dx ** 2 <= r ** 2) & (dy ** 2 + dx ** 2 >= (r / 2) ** 2)}

TEXTURES = {'hstripes': lambda y, x: (y // 3) % 2,
            'vstripes': lambda y, x: (x // 3) % 2,
            'checker': lambda y, x: (y // 4 + x // 4) % 2,
            'dots': lambda y, x: (y % 5 - 2) ** 2 + (x % 5 - 2) ** 2 <= 2,
            'diagonal': lambda y, x: ((y + x) // 3) % 2,
            'plain': lambda y, x: np.zeros_like(y)}

SIFTFLOW_SCENES = ('coast', 'forest', 'highway', 'insidecity', 'mountain', 'opencountry', 'street', 'tallbuilding')
# SIFT Flow (semantic, geometric) classes: background, then one per style.
SIFTFLOW_CLASSES = ((28, 1), (6, 3), (22, 2), (32, 3), (8, 3), (25, 2), (18, 3))  # sky, building, road, ...
# PASCAL-Context classes per style, by 59-task name (three of them renamed in labels.txt).
CONTEXT_CLASSES = ('aeroplane', 'diningtable', 'sky', 'clothes', 'person', 'bedcloth')
CONTEXT_EXTRAS = ('accordion', 'air conditioner', 'bamboo weaving', 'unknown', 'wool')
CLASSES_59 = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'classes-59.txt')


def render(seed, k, size, classes):
    """Picture k: (RGB uint8 H x W x 3, labels H x W with 0 background and 1..classes)."""
    rng = np.random.default_rng((seed, k))
    h, w = size
    y, x = np.mgrid[:h, :w]
    slope = rng.uniform(-25, 25, 2)
    grey = 115 + slope[0] * (y / h - 0.5) + slope[1] * (x / w - 0.5)
    rgb = grey[..., None] + rng.uniform(-12, 12, 3)
    # Background clutter: dull blobs that are not objects, so colour contrast alone does not mark one.
    for _ in range(rng.integers(0, 3)):
        blob = SHAPES['disc'](y - rng.uniform(0, h), x - rng.uniform(0, w), rng.uniform(0.08, 0.2) * min(h, w))
        rgb[blob] = rng.uniform(70, 170) + rng.uniform(-25, 25, 3)
    label = np.zeros(size, np.uint8)
    for _ in range(rng.integers(2, 4)):
        c = rng.integers(classes)
        shape, colour, texture = STYLES[c]
        r = rng.uniform(0.15, 0.32) * min(h, w)
        mask = SHAPES[shape](y - rng.uniform(0.1, 0.9) * h, x - rng.uniform(0.1, 0.9) * w, r)
        shade = rng.uniform(0.7, 1.1) * (0.72 + 0.28 * TEXTURES[texture](y + rng.integers(8), x + rng.integers(8)))
        rgb[mask] = ((np.array(colour) + rng.uniform(-30, 30, 3)) * shade[..., None])[mask]
        label[mask] = c + 1
    rgb += rng.normal(0, 8, rgb.shape)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), label


def borders(label):
    """Pixels next to a different label (a one-pixel band on each side of every boundary)."""
    return scipy.ndimage.maximum_filter(label, 3) != scipy.ndimage.minimum_filter(label, 3)


def voc_id(k):
    return '%d_%06d' % (2007 + k % 5, k)


def in_sbd_train(k):
    """SBD's train/val assignment of picture k."""
    return k % 4 != 3


def write_list(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines('%s\n' % line for line in lines)


def save_image(array, path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def save_mat(path, variables):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    scipy.io.savemat(path, variables, do_compression=True)


def make_voc(root, n=24, size=(64, 64), seed=0, classes=4):
    """PASCAL VOC 2011 segmentation under root/pascal/VOC2011 (returned): even k train, odd k val."""
    voc = os.path.join(root, 'pascal', 'VOC2011')
    ids = [voc_id(k) for k in range(n)]
    for k, id_ in enumerate(ids):
        rgb, label = render(seed, k, size, classes)
        label[borders(label)] = datasets.VOID
        save_image(rgb, os.path.join(voc, 'JPEGImages', id_ + '.jpg'), quality=90)
        datasets.save_label_png(label, os.path.join(voc, 'SegmentationClass', id_ + '.png'))
    sets = os.path.join(voc, 'ImageSets', 'Segmentation')
    write_list(os.path.join(sets, 'train.txt'), ids[0::2])
    write_list(os.path.join(sets, 'val.txt'), ids[1::2])
    write_list(os.path.join(sets, 'trainval.txt'), ids)
    write_list(os.path.join(sets, 'seg11valid.txt'), [ids[k] for k in range(1, n, 2) if not in_sbd_train(k)])
    return voc


def make_sbd(root, n=24, size=(64, 64), seed=0, classes=4):
    """SBD under root/sbdd/dataset (returned): img/, cls/*.mat (GTcls), train.txt, val.txt."""
    sbd = os.path.join(root, 'sbdd', 'dataset')
    ids = [voc_id(k) for k in range(n)]
    for k, id_ in enumerate(ids):
        rgb, label = render(seed, k, size, classes)
        save_image(rgb, os.path.join(sbd, 'img', id_ + '.jpg'), quality=90)
        boundaries = np.empty((20, 1), object)  # one sparse boundary map per object class, as SBD
        for c in range(20):
            boundaries[c, 0] = scipy.sparse.csr_matrix(borders(label == c + 1) & (label == c + 1))
        present = np.unique(label[label > 0]).astype(np.uint8)[:, None]
        gt = {'Segmentation': label, 'Boundaries': boundaries, 'CategoriesPresent': present}
        save_mat(os.path.join(sbd, 'cls', id_ + '.mat'), {'GTcls': gt})
    write_list(os.path.join(sbd, 'train.txt'), [i for k, i in enumerate(ids) if in_sbd_train(k)])
    write_list(os.path.join(sbd, 'val.txt'), [i for k, i in enumerate(ids) if not in_sbd_train(k)])
    return sbd


def make_nyud(root, n=24, size=(64, 64), seed=0, classes=4):
    """NYUDv2 under root/nyud (returned): ids 5001.., background is class 1, objects 2..; void borders 0."""
    nyud = os.path.join(root, 'nyud')
    ids = [str(5001 + k) for k in range(n)]
    for k, id_ in enumerate(ids):
        rgb, label = render(seed, k, size, classes)
        h, w = size
        rows = np.arange(h)[:, None] / h
        # Farther up the wall, nearer objects of each class at their own depth (mm, never 0).
        depth = np.where(label > 0, 1000 + 400.0 * label, 3500 - 1500 * rows)
        depth += np.random.default_rng((seed, k, 1)).normal(0, 20, size)
        hha = np.stack([255 * 800 / depth, 255 * (1 - rows) * np.ones(w), 60 + 30 * label], axis=2)
        raw = label + 1
        raw[borders(label)] = 0
        name = 'img_%s' % id_
        save_image(rgb, os.path.join(nyud, 'data', 'images', name + '.png'))
        save_image(np.rint(depth).astype(np.uint16), os.path.join(nyud, 'data', 'depth', name + '.png'))
        save_image(np.clip(hha, 0, 255).astype(np.uint8), os.path.join(nyud, 'data', 'hha', name + '.png'))
        save_mat(os.path.join(nyud, 'segmentation', name + '.mat'), {'segmentation': raw.astype(np.uint8)})
    test = [i for k, i in enumerate(ids) if k % 9 < 4]
    train = [i for k, i in enumerate(ids) if k % 9 >= 4 and k % 2 == 0]
    val = [i for k, i in enumerate(ids) if k % 9 >= 4 and k % 2 == 1]
    for split, lines in (('train', train), ('val', val), ('trainval', train + val), ('test', test)):
        write_list(os.path.join(nyud, split + '.txt'), lines)
    return nyud


def make_siftflow(root, n=24, size=(64, 64), seed=0, classes=4):
    """SIFT Flow under root/sift-flow (returned): semantic S (0 void), geometric S (-1 void)."""
    sf = os.path.join(root, 'sift-flow')
    sub = datasets.SIFTFlow.subdir
    ids = ['%s_syn%d' % (SIFTFLOW_SCENES[k % 8], k) for k in range(n)]
    table = np.array(SIFTFLOW_CLASSES, np.int16)
    for k, id_ in enumerate(ids):
        rgb, label = render(seed, k, size, classes)
        sem, geo = table[label, 0], table[label, 1]
        sem[borders(label)] = 0
        geo[borders(label)] = -1
        save_image(rgb, os.path.join(sf, 'Images', sub, id_ + '.jpg'), quality=90)
        save_mat(os.path.join(sf, 'SemanticLabels', sub, id_ + '.mat'), {'S': sem})
        save_mat(os.path.join(sf, 'GeoLabels', sub, id_ + '.mat'), {'S': geo})
    write_list(os.path.join(sf, 'trainval.txt'), [i for k, i in enumerate(ids) if k % 5])
    write_list(os.path.join(sf, 'test.txt'), [i for k, i in enumerate(ids) if not k % 5])
    return sf


def context_names():
    """The 59 task class names, in output order (1-59)."""
    return [name for k, name in datasets.read_label_list(CLASSES_59) if k > 0]


def make_context(root, n=24, size=(64, 64), seed=0, classes=4):
    """PASCAL-Context under root/pascal-context (returned), its JPEGs under root/pascal/VOC2010.

    labels.txt lists the 59 classes (by their full-list names) and a few others
    in a seeded order; background pixels are half unlabeled (0), half 'unknown'.
    """
    voc = os.path.join(root, 'pascal', 'VOC2010')
    context = os.path.join(root, 'pascal-context')
    names_59 = context_names()
    full = [datasets.CONTEXT_RENAMES.get(name, name) for name in names_59] + list(CONTEXT_EXTRAS)
    full = [full[i] for i in np.random.default_rng(seed).permutation(len(full))]
    write_list(os.path.join(context, 'labels.txt'), ['%d: %s' % (i, name) for i, name in enumerate(full, 1)])
    write_list(os.path.join(context, '59_labels.txt'), ['%d: %s' % (i, name) for i, name in enumerate(names_59, 1)])
    index = {name.replace(' ', ''): i for i, name in enumerate(full, 1)}
    style_values = [index[datasets.CONTEXT_RENAMES.get(name, name)] for name in CONTEXT_CLASSES]
    ids = [voc_id(k) for k in range(n)]
    for k, id_ in enumerate(ids):
        rgb, label = render(seed, k, size, classes)
        label_map = np.array([0] + style_values, np.uint16)[label]
        background = label == 0
        background[:, :size[1] // 2] = False
        label_map[background] = index['unknown']
        save_image(rgb, os.path.join(voc, 'JPEGImages', id_ + '.jpg'), quality=90)
        save_mat(os.path.join(context, 'trainval', id_ + '.mat'), {'LabelMap': label_map})
    write_list(os.path.join(voc, 'ImageSets', 'Main', 'train.txt'), ids[0::2])
    write_list(os.path.join(voc, 'ImageSets', 'Main', 'val.txt'), ids[1::2])
    return context


MAKERS = {'voc': make_voc, 'sbd': make_sbd, 'nyud': make_nyud, 'siftflow': make_siftflow, 'context': make_context}


def main(argv=None):
    parser = argparse.ArgumentParser(description='Write a small synthetic dataset in its real on-disk layout.')
    parser.add_argument('dataset', choices=MAKERS)
    parser.add_argument('--out', required=True, help='data root to write under (the dataset goes to its usual place)')
    parser.add_argument('--n', type=int, default=24, help='number of pictures (default 24)')
    parser.add_argument('--size', type=int, nargs=2, default=(64, 64), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--classes', type=int, default=4, choices=range(1, len(STYLES) + 1),
                        help='object classes drawn (default 4)')
    args = parser.parse_args(argv)
    print(MAKERS[args.dataset](args.out, args.n, tuple(args.size), args.seed, args.classes))


if __name__ == '__main__':
    main()
