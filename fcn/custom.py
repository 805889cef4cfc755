"""``fcn train``: train an FCN on your own images and masks, into a run directory.

    fcn train --images DIR --masks DIR --classes classes.txt --net fcn32s --out RUN

The data is checked whole before anything is written; the nets are the paper's
(nets/custom.py) for your number of classes; training is fcn.train's loop (scoring,
snapshots, log, charts); the run directory ends with a model card for fcn.load(RUN).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from fcn import REPO, backend, card, datasets, rundir, train
from fcn.datasets import VOC_MEAN
from torchcaffe.formats import read_solver

ARCHS = ('fcn32s', 'fcn16s', 'fcn8s', 'fcn8s-atonce', 'alexnet', 'googlenet')
VAL_FRACTION = 0.2               # held out for scoring when no val folders are given
SCRATCH_LR, SCRATCH_MOMENTUM = 1e-4, 0.9  # demo.py's: a normalized loss from scratch
SCORES_PER_RUN = 10              # default --score-every: iters / 10 (at most the experiments' 4000)
SNAPSHOT_EVERY = 1000            # default --snapshot-every; only the newest snapshot is kept
VOC_PIXELS = 500 * 375           # a typical PASCAL VOC image, what the paper's rates were set for
DEPLOY_SIZE = (500, 500)         # the deploy net's input when the images differ in size (it reshapes)
SETTINGS = os.path.join('net', 'settings.json')
SCHEDULE = ('iters', 'score_every', 'snapshot_every')  # settings that --resume may change
HEADS = (('score', 'label'),)

EPILOG = """\
data:
  --images holds pictures in any format Pillow reads (jpg, png, bmp, tif, ...), --masks
  one PNG per picture with the same stem (a.jpg -> a.png). A mask is a palette ('P') or
  grayscale ('L') PNG whose pixel values are class indices: 0 .. K-1 for the K names of
  --classes (one a line, in index order), 255 for pixels to ignore. An image and its
  mask have one size; sizes may differ between images (FCN trains on one image at a
  time). Every pair is read before training; every problem found is reported by file.
  Val: --val-images/--val-masks, else --val-fraction of the pairs (default 0.2; 0: no
  scoring) held out by a seeded draw.

nets and weights:
  --net is one of the paper's PASCAL VOC nets (VGG16 FCN-32s/16s/8s, FCN-8s at once,
  AlexNet, GoogLeNet) with K score channels. --weights loads a caffemodel by layer name:
  the ILSVRC classifier's fully convolutional twin (fcn surgery ilsvrc-to-fcn) or a
  trained FCN. Score layers of another class count take the rows of the classes with
  the same names when a model.json lies beside the weights (an fcn train run), and
  otherwise start at zero, FCN's init; upsampling is made bilinear. Without --weights
  the net trains from scratch: MSRA fillers in the trunk, zero score layers.

solver (--solver FILE replaces it; its net paths are ignored):
  with --weights: the paper's, that of the net's voc-* experiment (FCN-32s: fixed lr
    1e-10, momentum 0.99, batch 1, loss summed over the pixels; FCN-16s 1e-12 and
    FCN-8s 1e-14 expect the previous stage's weights). A summed loss makes the step
    scale with the image area: the rates fit ~500x375 images; on much smaller images
    give a --solver with base_lr scaled up by the area ratio.
  from scratch: the loss averaged over the pixels, lr 1e-4, momentum 0.9 (as fcn demo),
    which does not depend on the image size. Expect many more iterations than from
    ILSVRC weights.
  --iters defaults to the solver's max_iter (100000 for most nets): give it.

the run directory (paths inside are relative to it; a copy resumes where it is):
  net/         train, val, deploy and solver prototxts, train.txt and val.txt (stems), settings.json
  snapshots/   train_iter_N.caffemodel/.solverstate (the newest kept; --resume continues from it)
  best.caffemodel  the weights of the best val mean IU so far
  log.jsonl, log.csv, charts/   losses and scores, curves, per-class IoU, confusion matrix
  model.json   the model card: classes, mean, palette, deploy net, weights (fcn.load(RUN))
"""


def parse_args(argv):
    p = argparse.ArgumentParser(prog='fcn train', description='Train an FCN on your own images and masks.',
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', metavar='DIR', help='the training pictures')
    p.add_argument('--masks', metavar='DIR', help='their masks: PNGs of class indices, 255 = ignore')
    p.add_argument('--classes', metavar='FILE', help='class names, one a line, in index order (at least 2)')
    p.add_argument('--net', choices=ARCHS, help='which FCN')
    p.add_argument('--val-images', metavar='DIR', help='val pictures (with --val-masks)')
    p.add_argument('--val-masks', metavar='DIR', help='val masks')
    p.add_argument('--val-fraction', type=float, metavar='F',
                   help='without val folders: the part of the pairs held out for val (default %g; 0: none)'
                        % VAL_FRACTION)
    p.add_argument('--weights', metavar='FILE', help='initial weights (default: train from scratch)')
    p.add_argument('--solver', metavar='FILE', help='solver prototxt (default: see below)')
    p.add_argument('--iters', type=int, metavar='N', help="train until iteration N (default: the solver's max_iter)")
    p.add_argument('--score-every', type=int, metavar='N',
                   help='score val every N iterations and at the end (default: iters / %d, at most 4000)'
                        % SCORES_PER_RUN)
    p.add_argument('--snapshot-every', type=int, metavar='N',
                   help='snapshot every N iterations and at the end (default %d)' % SNAPSHOT_EVERY)
    p.add_argument('--resume', action='store_true',
                   help='continue the run in --out from its newest complete snapshot (a new or empty --out starts one)')
    p.add_argument('--gpu', type=int, metavar='ID', help='GPU id (default: CPU)')
    backend.add_argument(p)
    p.add_argument('--seed', type=int, metavar='N', help='seed of the val draw, data order and fillers (default 0)')
    p.add_argument('--out', required=True, metavar='RUN', help='the run directory (new or empty, or with --resume)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except train.EXPECTED as e:  # bad data, files or options: the message says what to fix
        sys.exit('error: %s' % e)
    except train.Interrupted as e:
        e.exit('fcn train --resume --out %s' % args.out)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training began
        sys.exit('\naborted: continue with fcn train --resume --out %s' % args.out)


def run(args):
    out = os.path.abspath(args.out)
    settings = recorded(out)
    fresh = settings is None
    if fresh:
        if os.path.isdir(out) and set(os.listdir(out)) - {'net', rundir.LOCK}:
            if args.resume:
                raise ValueError('%s is not a run directory of fcn train (no %s)' % (out, SETTINGS))
            raise ValueError('%s is not empty: give a new --out, or --resume to continue the run in it' % out)
        settings = new_settings(args)
    elif not args.resume:
        raise ValueError('%s holds a run already: add --resume to continue it, or give a new --out' % out)
    else:
        same_settings(settings, args)
    for key in SCHEDULE:  # None: the default, which follows the solver and iters
        value = getattr(args, key)
        if value is not None and value < (key != 'score_every'):  # --score-every 0: never
            raise ValueError('--%s must be at least %d, got %d' % (key.replace('_', '-'), key != 'score_every', value))
        settings[key] = value if value is not None else settings.get(key)
    readers, sizes = check_data(settings, None if fresh else os.path.join(out, 'net'))
    settings['input_size'] = uniform_size(sizes)  # the model card's hint
    if fresh:
        train_ids, val_ids = split(readers, settings)
    else:
        train_ids, val_ids = readers[0].ids, readers[1].ids if readers[1] else []
    print('data: %d train, %d val pairs%s' % (
        len(train_ids), len(val_ids), '' if settings['val_images'] or not val_ids else
        ' (%g%% of the pairs held out, seed %d)' % (100 * settings['val_fraction'], settings['seed'])))
    if not val_ids:
        print('warning: no val data: no scores, no best.caffemodel; the model card names the last weights')
    with rundir.lock(out):
        if fresh:
            write_nets(out, settings, train_ids, val_ids)
        else:
            write_settings(out, settings)
        param = read_solver(os.path.join(out, 'net', 'solver.prototxt'))
        iters = settings['iters'] or param.max_iter
        state = newest_snapshot(out)
        if state and state[0] >= iters:
            print('%s is at iteration %d already (--iters %d): nothing to train' % (out, state[0], iters))
        else:
            describe(settings, param, sizes)
            fit(args, out, settings, iters, param, state)
        print(finish(out, settings))


# -- settings -------------------------------------------------------------------------

def recorded(out):
    """The settings of the run in ``out`` (net/settings.json), None when there is none."""
    path = os.path.join(out, SETTINGS)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_classes(path):
    """The class names of ``path``, one a line, blank lines skipped."""
    if not os.path.isfile(path):
        raise FileNotFoundError('classes file %s not found' % path)
    names = datasets.read_ids(path)
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ValueError("classes file %s lists '%s' twice: class names must differ" % (path, name))
    if len(names) < 2:
        raise ValueError('classes file %s lists %d class name(s); segmentation needs at least 2 '
                         '(e.g. background and one object class)' % (path, len(names)))
    if len(names) > datasets.MAX_CLASSES:
        raise ValueError('classes file %s lists %d classes; masks hold bytes and 255 means ignore, so '
                         'at most %d' % (path, len(names), datasets.MAX_CLASSES))
    return names


def given_settings(args):
    """The settings the command line gives (None where it gives none), paths absolute."""
    settings = {key: getattr(args, key) for key in ('net', 'val_fraction', 'seed')}
    settings['classes'] = args.classes and read_classes(args.classes)
    for key in ('images', 'masks', 'val_images', 'val_masks', 'weights', 'solver'):
        settings[key] = getattr(args, key) and os.path.abspath(getattr(args, key))
    return settings


def new_settings(args):
    """A new run's settings from the command line, checked."""
    settings = given_settings(args)
    missing = ['--' + k for k in ('images', 'masks', 'classes', 'net') if not settings[k]]
    if missing:
        raise ValueError('a new run needs %s' % ', '.join(missing))
    if bool(args.val_images) != bool(args.val_masks):
        raise ValueError('--val-images and --val-masks go together')
    if args.val_images and args.val_fraction is not None:
        raise ValueError('--val-fraction splits --images; with --val-images leave it out')
    if not args.val_images:
        fraction = VAL_FRACTION if args.val_fraction is None else args.val_fraction
        if not 0 <= fraction < 1:
            raise ValueError('--val-fraction must be at least 0 and below 1, got %g' % fraction)
        settings['val_fraction'] = fraction
    for key in ('weights', 'solver'):
        if settings[key] and not os.path.isfile(settings[key]):
            raise FileNotFoundError('--%s %s not found' % (key, settings[key]))
    settings['seed'] = args.seed or 0
    return settings


def same_settings(settings, args):
    """Refuse options of --resume that differ from those the run was set up with."""
    given = given_settings(args)
    differ = ['--%s %s (the run has %s)' % (k.replace('_', '-'), given[k], settings[k])
              for k in given if given[k] is not None and given[k] != settings[k]]
    if differ:
        raise ValueError('--resume continues a run as it was set up; these differ: %s. Leave them out, '
                         'or give a new --out' % '; '.join(differ))


# -- data -----------------------------------------------------------------------------

def progress(what):
    """A progress(done, total) that prints once a check has taken more than 2 seconds."""
    from fcn import score
    start = time.time()

    def report(done, total):
        if time.time() - start > 2:
            score.progress(done, total, what, sys.stdout)
    return report


def check_data(settings, net_dir):
    """Read every pair before training (a DataError lists all problems): the (train, val)
    readers (val None without val data) and the image sizes {(folder, stem): (h, w)}.
    ``net_dir``: a resumed run's, whose split files say which stems."""
    k = len(settings['classes'])
    splits = [('train', settings['images'], settings['masks'])]
    if settings['val_images']:
        splits.append(('val', settings['val_images'], settings['val_masks']))
    elif net_dir and settings['val_fraction']:
        splits.append(('val', settings['images'], settings['masks']))
    readers, sizes, counts = [], {}, np.zeros(256, np.int64)
    for name, images, masks in splits:
        split_file = os.path.join(net_dir, name + '.txt') if net_dir else None
        reader = datasets.Folder(images, masks, k, split_file, VOC_MEAN)
        found, values = reader.check(progress('checking %s data' % name))
        sizes.update(((images, stem), size) for stem, size in found.items())
        counts += values
        readers.append(reader)
    shape = uniform_size(sizes)
    print('data: %s; %s' % ('; '.join('%d pairs in %s, %s' % (len(r.ids), r.images_dir, r.masks_dir)
                                      for r in readers),
                            'all %dx%d' % shape[::-1] if shape else 'sizes differ'))
    total = counts.sum()
    print('data: pixels per class: %s; ignored (255) %.1f%%' % (
        ', '.join('%s %.1f%%' % (c, 100 * counts[i] / total) for i, c in enumerate(settings['classes'])),
        100 * counts[datasets.VOID] / total))
    absent = [c for i, c in enumerate(settings['classes']) if not counts[i]]
    if absent:
        print('warning: no mask has pixels of class %s: the net cannot learn %s'
              % (', '.join(absent), 'it' if len(absent) == 1 else 'them'))
    return readers + [None] * (2 - len(readers)), sizes


def split(readers, settings):
    """(train stems, val stems): the val folder's, else a seeded draw of val_fraction of the pairs."""
    stems = readers[0].ids
    if readers[1] is not None:
        return stems, readers[1].ids
    if not settings['val_fraction']:
        return stems, []
    if len(stems) < 2:
        raise ValueError('one image/mask pair cannot be split into train and val: add pairs, give '
                         '--val-images/--val-masks, or --val-fraction 0')
    count = min(len(stems) - 1, max(1, round(settings['val_fraction'] * len(stems))))
    held = set(np.random.default_rng(settings['seed']).permutation(len(stems))[:count])
    return [s for i, s in enumerate(stems) if i not in held], [s for i, s in enumerate(stems) if i in held]


def uniform_size(sizes):
    """(H, W) when every image has it, else None."""
    found = set(sizes.values())
    return found.pop() if len(found) == 1 else None


# -- the run directory ----------------------------------------------------------------

def write_list(path, lines):
    with open(path, 'w') as f:
        f.writelines('%s\n' % line for line in lines)


def write_nets(out, settings, train_ids, val_ids):
    """net/: the split files, train/val/deploy/solver prototxts, and settings.json (last: it marks
    the run as set up)."""
    from nets import custom, write_prototxts
    net_dir = os.path.join(out, 'net')
    os.makedirs(net_dir, exist_ok=True)
    write_list(os.path.join(net_dir, 'train.txt'), train_ids)
    arch, k = settings['net'], len(settings['classes'])
    normalize = scratch(settings) or arch == 'alexnet'  # AlexNet's experiment normalizes too
    val_dirs = (settings['val_images'], settings['val_masks']) if settings['val_images'] \
        else (settings['images'], settings['masks'])

    def data(split, images, masks, randomize):
        # split files are relative to the data root, which the driver sets to the run directory
        return dict(images_dir=images, masks_dir=masks, num_classes=k, split='net/%s.txt' % split,
                    mean=VOC_MEAN, seed=settings['seed'], randomize=randomize)
    nets = {'train': custom.net(arch, k, data('train', settings['images'], settings['masks'], True),
                                normalize=normalize),
            'deploy': custom.net(arch, k, shape=(1, 3) + tuple(settings['input_size'] or DEPLOY_SIZE)),
            'solver': solver_param(settings, len(val_ids))}
    if val_ids:
        write_list(os.path.join(net_dir, 'val.txt'), val_ids)
        nets['val'] = custom.net(arch, k, data('val', *val_dirs, False), normalize=normalize)
    write_prototxts(net_dir, nets)
    write_settings(out, settings)


def write_settings(out, settings):
    from torchcaffe.formats.files import atomic_write
    atomic_write(os.path.join(out, SETTINGS), (json.dumps(settings, indent=1) + '\n').encode())


def scratch(settings):
    return not settings['weights']


def solver_param(settings, val_count):
    """The run's solver: --solver, else the paper's (with weights) or demo.py's (from scratch)."""
    from nets import custom
    from nets.solvers import sgd
    if settings['solver']:
        param = read_solver(settings['solver'])
    elif scratch(settings):
        param = sgd('train.prototxt', 'val.prototxt', 1, SCRATCH_LR, momentum=SCRATCH_MOMENTUM)
    else:
        path = os.path.join(REPO, custom.ARCHS[settings['net']][3], 'solver.prototxt')
        if not os.path.isfile(path):
            raise FileNotFoundError("the paper's solver for %s, %s, is missing: give --solver FILE"
                                    % (settings['net'], path))
        param = read_solver(path)
    for field in ('net', 'net_param', 'train_net_param', 'test_net', 'test_net_param', 'test_iter'):
        param.ClearField(field)
    param.train_net = 'train.prototxt'  # relative to net/, like the experiments'
    if val_count:  # never run by the solver (test_interval): the driver scores
        param.test_net.append('val.prototxt')
        param.test_iter.append(val_count)
    param.test_interval, param.test_initialization = 999999999, False
    param.snapshot_prefix = 'snapshots/train'
    return param


def newest_snapshot(out):
    """(iteration, solverstate) of the newest complete snapshot of the run, or None."""
    found = train.snapshots(os.path.join(out, 'snapshots', train.PREFIX))
    return max(found.items()) if found else None


def describe(settings, param, sizes):
    """Print the solver and the loss, with a note where the paper's rate does not fit the images."""
    loss = 'averaged over the pixels' if scratch(settings) or settings['net'] == 'alexnet' else 'summed over the pixels'
    source = settings['solver'] or ('fcn train from scratch' if scratch(settings) else "the paper's")
    print('solver: %s: %s lr %g, momentum %g, iter_size %d; loss %s'
          % (source, param.lr_policy, param.base_lr, param.momentum, param.iter_size, loss))
    if loss.startswith('summed') and not settings['solver']:
        area = np.mean([h * w for h, w in sizes.values()])
        if area < VOC_PIXELS / 4:
            print('note: the loss is summed over the pixels and the rate fits ~500x375 images; yours '
                  'average %d pixels, so steps are ~%dx smaller. Consider a --solver with base_lr %g.'
                  % (area, VOC_PIXELS / area, param.base_lr * VOC_PIXELS / area))


# -- training -------------------------------------------------------------------------

def fit(args, out, settings, iters, param, state):
    """Train with fcn.train's driver: init or resume, scoring with per-class IoU, the best weights kept."""
    score_every = settings['score_every']
    if score_every is None:
        score_every = max(1, min(4000, iters // SCORES_PER_RUN))
    options = train.parse_args('fcn train', [])  # the driver's defaults, then this run's settings
    vars(options).update(out=os.path.join(out, 'snapshots'), data_root=out, seed=settings['seed'], iters=iters,
                         score_every=score_every, snapshot_every=settings['snapshot_every'] or SNAPSHOT_EVERY,
                         display=min(param.display or 20, max(1, iters // 25)), backend=args.backend, gpu=args.gpu,
                         resume=state[1] if state else None, overwrite=not state)
    if not state and os.path.isfile(os.path.join(out, 'log.jsonl')):  # set up before, killed before its first snapshot
        print('%s has no complete snapshot yet: training starts over' % out)
    classes = settings['classes']
    init = scratch_init if scratch(settings) else weights_init(settings['weights'], classes, settings['net'])
    train.run(os.path.join(out, 'net'), [], HEADS, score_every, None, None, options, init=init, names=classes,
              hooks=[Best(out, settings)], log_dir=out, keep=1)


def scratch_init(net):
    """From scratch: the prototxt's fillers stay (the driver makes upsampling bilinear)."""
    print('init: no --weights: training from scratch. Trunk convolutions start from MSRA fillers, '
          'score layers at zero (FCN\'s init), upsampling bilinear. This needs many more iterations '
          'than starting from an ILSVRC classifier (fcn surgery ilsvrc-to-fcn makes its FCN twin).')


def source_classes(weights):
    """The class names of the run that wrote ``weights`` (its model.json, beside them or above its
    snapshots/), or None."""
    here = os.path.dirname(os.path.abspath(weights))
    for directory in (here, os.path.dirname(here)) if os.path.basename(here) == 'snapshots' else (here,):
        try:
            return card.read(directory)['classes']
        except card.CardError:
            pass
    return None


def weights_init(path, classes, arch):
    """An init(net) that copies the layers of caffemodel ``path`` that fit, by name, and says
    what it copied and skipped. Score layers of another class count take the rows of
    same-named classes (when the source's names are known) or keep zero."""
    def init(net):
        params = train.read_params(path)
        known = source_classes(path)
        copied, notes = [], []
        renamed = known is not None and known != list(classes)  # then score rows go by class name
        for layer, arrays in params.items():
            blobs = net.params[layer] if layer in net.params else None
            if blobs is None:
                notes.append('skipped %s: not in this net' % layer)
                continue
            fits = len(blobs) == len(arrays) and all(a.size == b.data.size for a, b in zip(arrays, blobs))
            by_class = layer.startswith('score') and len(blobs) == len(arrays) and all(
                a.shape[1:] == b.data.shape[1:] for a, b in zip(arrays, blobs))  # only the class axis differs
            if by_class and (renamed or not fits):
                notes.append(score_rows(layer, arrays, blobs, known, classes))
            elif fits:
                for a, b in zip(arrays, blobs):
                    b.data[...] = a.reshape(b.data.shape)
                copied.append(layer)
            elif layer.startswith('up'):
                notes.append('skipped %s: %s classes in the weights; made bilinear for %d'
                             % (layer, arrays[0].shape[0], len(classes)))
            else:
                notes.append('skipped %s: shapes %s in the weights, %s here' % (
                    layer, [a.shape for a in arrays], [b.data.shape for b in blobs]))
        if not copied:
            raise ValueError('no layer of %s fits the net %s: give the ILSVRC twin of its trunk '
                             '(fcn surgery ilsvrc-to-fcn) or weights trained with this --net' % (path, arch))
        print('init: %d layers from %s: %s' % (len(copied), path, ', '.join(copied)))
        for note in notes:
            print('init:   ' + note)
        fresh = [layer for layer in net.params if layer not in params and not layer.startswith('up')]
        if fresh:
            print('init:   not in the weights, start from the fillers: %s' % ', '.join(fresh))
    return init


def score_rows(layer, arrays, blobs, known, classes):
    """Copy the rows (output channels) of score ``layer`` whose classes are named alike; say which."""
    if not known or len(known) != len(arrays[0]):
        return ('%s: %d classes in the weights, %d here, no class names beside the weights to match: '
                'starts at zero (FCN\'s init)' % (layer, len(arrays[0]), len(classes)))
    pairs = [(i, known.index(name)) for i, name in enumerate(classes) if name in known]
    for a, b in zip(arrays, blobs):
        for i, j in pairs:
            b.data[i] = a[j]
    new = [c for c in classes if c not in known]
    return '%s: classes %s copied by name%s' % (layer, ', '.join(classes[i] for i, _ in pairs) or 'none',
                                                '; %s start at zero' % ', '.join(new) if new else '')


class Best:
    """After each scoring: keep the weights of the best val mean IU as best.caffemodel, and the card."""

    def __init__(self, out, settings):
        self.out, self.settings = out, settings
        self.path = os.path.join(out, 'best.json')
        self.best = None
        if os.path.isfile(self.path):
            with open(self.path) as f:
                self.best = json.load(f)

    def __call__(self, solver, step):
        if 'scores' not in step:
            return
        iteration, mean_iu = step['iter'], step['scores']['score']['mean_iu']
        if not np.isfinite(mean_iu) or (self.best and mean_iu <= self.best['mean_iu']):
            return
        weights = os.path.join(self.out, 'best.caffemodel')
        partial = os.path.join(self.out, '.best.caffemodel.partial')
        solver.net.save(partial)
        os.replace(partial, weights)  # a reader sees the old or the new file, never half of one
        from torchcaffe.formats.files import atomic_write
        self.best = {'iter': iteration, 'mean_iu': mean_iu}
        atomic_write(self.path, json.dumps(self.best).encode())
        write_card(self.out, self.settings, weights)
        print('best: mean IU %.4f at iteration %d, saved as best.caffemodel' % (mean_iu, iteration), flush=True)


def write_card(out, settings, weights):
    from fcn.vis import make_palette
    classes = settings['classes']
    return card.write(out, classes, VOC_MEAN, make_palette(len(classes)), os.path.join(out, 'net', 'deploy.prototxt'),
                      weights, score='score', input_size=settings['input_size'])


def finish(out, settings):
    """Write the model card for the best weights (else the newest snapshot's); the closing summary."""
    weights = os.path.join(out, 'best.caffemodel')
    if os.path.isfile(weights):
        best = Best(out, settings).best  # None when killed between the weights and best.json
        what = 'best val mean IU' + (' %.4f, iteration %d' % (best['mean_iu'], best['iter']) if best else '')
    else:
        state = newest_snapshot(out)
        if state is None:
            raise ValueError('%s has no weights to describe' % out)
        weights = state[1][:-len('solverstate')] + 'caffemodel'
        what = 'iteration %d; no val scores' % state[0]
    path = write_card(out, settings, weights)
    return ('run: %s\n  model card: %s (weights %s: %s)\n  charts: %s\n  use it: fcn.load(%r).predict(image)'
            % (out, path, os.path.relpath(weights, out), what, os.path.join(out, 'charts'), out))
