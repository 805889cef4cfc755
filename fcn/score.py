"""Segmentation scores: confusion histograms, the paper's metrics, and tests during training.

The metrics of the paper (section 5), from the confusion histogram ``hist`` whose
entry (i, j) counts pixels of class i predicted as j:

- overall (pixel) accuracy  sum_i hist_ii / sum_ij hist_ij
- mean accuracy             mean_i hist_ii / sum_j hist_ij
- mean IU                   mean_i hist_ii / (sum_j hist_ij + sum_j hist_ji - hist_ii)
- frequency weighted IU     sum_i freq_i IU_i,  freq_i = sum_j hist_ij / sum_ij hist_ij

Means skip classes whose value is undefined (0 / 0: absent from the ground truth,
and for IU also never predicted).

The original FCN calls work unchanged: ``fast_hist(a, b, n)``,
``compute_hist(net, save_dir, dataset, layer='score', gt='label')``,
``seg_tests(solver, save_format, dataset, layer='score', gt='label')`` and
``do_seg_tests(net, iter, save_format, dataset, layer='score', gt='label')``
(which returns the histogram). Our additions are keywords: ``heads=`` scores
several (score layer, ground truth) pairs in one pass and returns a dict of
results per score layer; ``exclude=``, ``per_class=`` and ``names=`` as in
``do_seg_tests``.

As a command, scores trained weights on the split a net's data layer reads,
optionally with data-layer options such as the input masking of the paper's
Table 8 (docs/training-options.md), a per-class table and a confusion chart:

    python score.py voc-fcn32s/val.prototxt weights.caffemodel --data "{'mask': 'fg-only'}"
    fcn score voc-fcn32s/val.prototxt weights.caffemodel --per-class --confusion confusion.png
"""
import argparse
import datetime
import os
import sys
import tempfile
import warnings

import numpy as np

from fcn import backend
from fcn import datasets
from fcn import vis

# the words of the original score.py's report, so logs read (and grep) as before
SUMMARY = (('overall_acc', 'overall accuracy'), ('mean_acc', 'mean accuracy'),
           ('mean_iu', 'mean IU'), ('fwavacc', 'fwavacc'))


def fast_hist(a, b, n):
    """The n x n confusion histogram of ground truth ``a`` (rows) and predictions ``b`` (columns).

    Ground truth outside [0, n) (void) is ignored.
    """
    gt = np.asarray(a).ravel().astype(np.int64)  # labels arrive as float blobs
    pred = np.asarray(b).ravel().astype(np.int64)
    if gt.shape != pred.shape:
        raise ValueError('ground truth has %d pixels, the prediction %d' % (gt.size, pred.size))
    keep = (gt >= 0) & (gt < n)
    gt, pred = gt[keep], pred[keep]
    if pred.size and (pred.min() < 0 or pred.max() >= n):
        raise ValueError('predictions must lie in [0, %d), found %d..%d' % (n, pred.min(), pred.max()))
    return np.bincount(n * gt + pred, minlength=n * n).reshape(n, n)


def _nanmean(values):
    values = values[~np.isnan(values)]
    return values.mean() if values.size else np.nan


def _scores(hist, classes):
    """Per-class accuracy and IU of ``classes`` and the four summary metrics over them.

    Ground truth pixels of other classes are left out; predicting another class
    stays an error.
    """
    rows = hist[classes]  # ground truth of the scored classes, every prediction
    hits = hist[classes, classes]
    gt_pixels, predicted = rows.sum(1), rows[:, classes].sum(0)
    with np.errstate(divide='ignore', invalid='ignore'):
        acc = hits / gt_pixels
        iu = hits / (gt_pixels + predicted - hits)
        freq = gt_pixels / rows.sum()
        return acc, iu, {
            'overall_acc': float(hits.sum() / rows.sum()),
            'mean_acc': float(_nanmean(acc)),
            'mean_iu': float(_nanmean(iu)),
            # IU is defined wherever freq > 0; classes without pixels weigh nothing
            'fwavacc': float((freq[freq > 0] * iu[freq > 0]).sum())}


def metrics(hist, exclude=()):
    """The paper's metrics of confusion histogram ``hist`` as a dict.

    Keys: overall_acc, mean_acc, mean_iu, fwavacc (floats) and per class ``acc``
    and ``iu`` (arrays, NaN where undefined). ``exclude`` lists classes to leave
    out, or is 'absent' for the classes without ground truth pixels (SIFT Flow is
    scored on the classes its test set has). Then the four numbers over the other
    classes follow as overall_acc_excl, ..., fwavacc_excl, and ``exclude`` lists
    the classes left out.
    """
    hist = np.asarray(hist, np.float64)
    n = len(hist)
    acc, iu, summary = _scores(hist, np.arange(n))
    result = dict(summary, acc=acc, iu=iu)
    if isinstance(exclude, str):
        if exclude != 'absent':
            raise ValueError("exclude: a list of classes or 'absent', not %r" % exclude)
        exclude = np.flatnonzero(hist.sum(1) == 0)
    exclude = sorted(int(c) for c in exclude)
    if exclude:
        if exclude[0] < 0 or exclude[-1] >= n:
            raise ValueError('exclude: classes must lie in [0, %d), got %s' % (n, exclude))
        _, _, kept = _scores(hist, np.setdiff1d(np.arange(n), exclude))
        result.update({key + '_excl': value for key, value in kept.items()}, exclude=exclude)
    return result


def progress(done, total, what='scoring', stream=None, note=''):
    """A progress bar redrawn in place on a terminal; in a log, a plain line every tenth of the way."""
    stream = stream or sys.stderr
    count = ('%d/%d %s' % (done, total, note)).rstrip()
    if stream.isatty():
        # \033[K clears the rest of a longer line drawn before
        stream.write('\r%s %s %s\033[K%s' % (what, bar(done, total), count, '\n' if done == total else ''))
    elif done == total or done * 10 // total != (done - 1) * 10 // total:
        stream.write('%s %s\n' % (what, count))
    stream.flush()


def bar(done, total):
    """A 20-cell bar of ``done`` out of ``total``: [#####...............]."""
    filled = 20 * done // total
    return '[%s%s]' % ('#' * filled, '.' * (20 - filled))


def loss_blob(net, gt):
    """The loss top of the layer that reads ground truth blob ``gt``, or None.

    Caffe's Split layers (a blob read by several layers) are looked through.
    """
    source = {}  # split top -> the blob it copies
    for layer, kind in zip(net.bottom_names, (impl.type for impl in net.layers)):
        if kind == 'Split':
            bottom, = net.bottom_names[layer]
            source.update((top, bottom) for top in net.top_names[layer])
    weights = net.blob_loss_weights
    for layer, bottoms in net.bottom_names.items():
        if gt in (source.get(b, b) for b in bottoms):
            losses = [top for top in net.top_names[layer] if weights[top]]
            if losses:
                return losses[0]
    return None


def compute_hists(net, dataset, heads, save_dirs=None):
    """Run ``net`` once per image of ``dataset`` and score every head in that one pass.

    ``heads``: (score layer, ground truth blob, loss blob or None) triples. The net's
    data layer supplies the images in the order of ``dataset`` (ids: a list, or the
    array np.loadtxt reads from a split file). With ``save_dirs`` (one directory per
    head) each prediction is written as ``<dir>/<id>.png`` in the palette of its
    number of classes. Returns a (histogram, loss averaged over the images or None)
    pair per head.
    """
    dataset = [str(idx) for idx in np.atleast_1d(dataset)]  # a one-line split loads as a 0-d array
    classes = [net.blobs[layer].data.shape[1] for layer, _, _ in heads]
    hists = [np.zeros((n, n), np.int64) for n in classes]
    palettes = [vis.make_palette(n) for n in classes]
    losses = [0.0 if loss else None for _, _, loss in heads]
    for d in save_dirs or ():
        os.makedirs(d, exist_ok=True)
    for i, idx in enumerate(dataset):
        net.forward()
        for h, (layer, gt, loss) in enumerate(heads):
            pred = net.blobs[layer].data[0].argmax(0)
            hists[h] += fast_hist(net.blobs[gt].data[0], pred, classes[h])
            if loss:
                losses[h] += float(net.blobs[loss].data.flat[0])
            if save_dirs:
                vis.save_label(os.path.join(save_dirs[h], '%s.png' % idx), pred, palettes[h])
        progress(i + 1, len(dataset))
    mean = [loss / len(dataset) if loss is not None and len(dataset) else None for loss in losses]
    return list(zip(hists, mean))


def compute_hist(net, save_dir, dataset, layer='score', gt='label', loss_layer='loss'):
    """The confusion histogram of ``layer`` against ``gt`` over ``dataset`` and the mean of blob
    ``loss_layer`` (None: no loss, and None returned for it).

    With ``save_dir`` each prediction is written as ``<save_dir>/<id>.png`` (see compute_hists).
    """
    if loss_layer is not None and loss_layer not in net.blobs:
        raise ValueError("compute_hist: the net has no blob '%s' to average as the loss; "
                         "name its loss with loss_layer= or pass loss_layer=None" % loss_layer)
    (hist, mean_loss), = compute_hists(net, dataset, [(layer, gt, loss_layer)],
                                       save_dir and [save_dir])
    return hist, mean_loss


def _for_head(option, layer):
    """An option given per head (a dict by score layer) or for all heads."""
    return option.get(layer) if isinstance(option, dict) else option


def seg_tests(solver, save_format, dataset, layer='score', gt='label', **options):
    """Score the solver's current weights on its first test net at its iteration.

    ``options``: the keywords of do_seg_tests (heads, exclude, per_class, names);
    returns what do_seg_tests returns.
    """
    net = solver.test_nets[0]
    net.share_with(solver.net)
    return do_seg_tests(net, solver.iter, save_format, dataset, layer, gt, **options)


def do_seg_tests(net, iter, save_format, dataset, layer='score', gt='label', *, heads=None,
                 exclude=None, per_class=False, names=None):
    """Score ``net`` over ``dataset`` (ids, one forward each), print a report for iteration ``iter``.

    As the original (whose keyword ``iter`` is kept, shadowing the builtin): one head,
    ``layer`` against ``gt``; returns its confusion histogram.
    With ``heads``, (score layer, ground truth blob) pairs scored in one pass instead
    of ``layer`` and ``gt``; returns {score layer: results}, results being the
    ``metrics`` dict, ``hist``, and ``loss`` averaged over the images (None when no
    loss layer reads the ground truth). ``save_format``: False or None, or a
    directory pattern formatted with the iteration, e.g. 'seg-{}', for the predicted
    label PNGs (one subdirectory per score layer when there are several heads).
    ``exclude`` and ``names`` (class names for the ``per_class`` table) apply to
    every head, or to each by a dict keyed by score layer.
    """
    if not (isinstance(layer, str) and isinstance(gt, str)):
        raise TypeError('do_seg_tests: layer and gt name blobs, got %r and %r; several heads '
                        'go as heads=[(layer, gt), ...]' % (layer, gt))
    if heads is not None and not len(heads):
        raise ValueError('do_seg_tests: heads is empty')
    scored = [(top, truth, loss_blob(net, truth))
              for top, truth in ([(layer, gt)] if heads is None else heads)]
    save_dirs = None
    if save_format:
        root = save_format.format(iter)
        save_dirs = [root] if len(scored) == 1 else [os.path.join(root, h[0]) for h in scored]
    results = {}
    for (top, truth, _), (hist, loss) in zip(scored, compute_hists(net, dataset, scored, save_dirs)):
        if not hist.sum():  # metrics of nothing are NaN: say why
            warnings.warn("scoring '%s' against '%s': no pixel of the %d images has a label among the classes "
                          '(all ignored, 255): the scores are NaN' % (top, truth, len(np.atleast_1d(dataset))),
                          stacklevel=2)
        result = metrics(hist, _for_head(exclude, top) or ())
        result.update(hist=hist, loss=loss)
        results[top] = result
        print(report(result, iter, top, truth, len(np.atleast_1d(dataset)), per_class,
                     _for_head(names, top)), flush=True)
    return results[layer]['hist'] if heads is None else results


def report(result, iteration, layer, gt, images, per_class=False, names=None):
    """The readable report of one head's results (see do_seg_tests)."""
    now = datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')
    lines = ['>>> %s iteration %s: %s vs %s on %d images' % (now, iteration, layer, gt, images)]
    numbers = '  '.join('%s %.4f' % (label, result[key]) for key, label in SUMMARY)
    loss = '' if result['loss'] is None else 'loss %.6g  ' % result['loss']
    lines.append('    ' + loss + numbers)
    if 'exclude' in result:
        lines.append('    without classes %s:  %s' % (
            ' '.join(map(str, result['exclude'])),
            '  '.join('%s %.4f' % (label, result[key + '_excl']) for key, label in SUMMARY)))
    if per_class:
        hist = result['hist']
        names = names or [str(c) for c in range(len(hist))]
        if len(names) != len(hist):
            raise ValueError('%d class names for %d classes' % (len(names), len(hist)))
        width = max(len('class'), *map(len, names))
        lines.append('    %-*s  %6s  %6s  %10s' % (width, 'class', 'IU', 'acc', 'pixels'))
        for c, name in enumerate(names):
            row = (width, name, result['iu'][c], result['acc'][c], hist[c].sum())
            lines.append('    %-*s  %6.4f  %6.4f  %10d' % row)
    return '\n'.join(lines)


def main(argv=None):
    from nets.data import data_options  # imports torchcaffe: here, not when training imports score
    p = argparse.ArgumentParser(description='Score trained weights on the split a net\'s data layer reads.')
    p.add_argument('net', help='a net with a data layer of layers.py, e.g. voc-fcn32s/val.prototxt')
    p.add_argument('weights', help='the caffemodel to score')
    p.add_argument('--data', type=data_options, default=None, metavar='DICT',
                   help="options merged into the data layer's param_str, e.g. \"{'mask': 'bg-only'}\"")
    p.add_argument('--heads', nargs='+', default=['score:label'], metavar='SCORE:LABEL',
                   help='score blob and ground truth blob of each head')
    p.add_argument('--exclude', nargs='+', type=int, default=None, metavar='CLASS',
                   help='classes left out of a second set of means, e.g. 0: mean IU without background '
                        '(Table 8)')
    p.add_argument('--save', default=None, help='directory for the predicted label PNGs')
    p.add_argument('--per-class', action='store_true', help='print the IU, accuracy and pixels of each class')
    p.add_argument('--classes', nargs='+', default=None, metavar='FILE',
                   help='class names, one a line, for the table and the chart (default: class indices); '
                        'one file for every head or one per head')
    p.add_argument('--confusion', default=None, metavar='PNG',
                   help='draw the row-normalized confusion matrix here (with several heads, '
                        'one file per head: the score layer joins the name)')
    p.add_argument('--data-root', default=None, help='datasets directory (default: $FCN_DATA_ROOT or data/)')
    p.add_argument('--gpu', type=int, default=None, help='GPU id (default: CPU)')
    backend.add_argument(p)
    args = p.parse_args(argv)
    if args.data_root:
        os.environ['FCN_DATA_ROOT'] = os.path.abspath(args.data_root)
    caffe = backend.load(args.backend)
    if args.gpu is not None:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    heads = [tuple(h.split(':', 1)) for h in args.heads]
    if any(len(h) != 2 for h in heads):
        p.error('--heads: each head is SCORE:LABEL, got %s' % ' '.join(args.heads))
    if args.classes and len(args.classes) not in (1, len(heads)):
        p.error('--classes: one file for every head or one per head (%d heads), got %d'
                % (len(heads), len(args.classes)))
    net = data_net(caffe, args.net, args.weights, args.data)
    names = {}
    for h, (layer, _) in enumerate(heads):
        if args.classes:
            path = args.classes[h if len(args.classes) > 1 else 0]
            try:
                names[layer] = datasets.read_ids(path)
            except OSError as e:
                p.error('--classes: cannot read %s: %s' % (path, e.strerror))
            n = net.blobs[layer].data.shape[1]
            if len(names[layer]) != n:  # found now, not after scoring the whole split
                p.error('--classes: %s has %d names, %s has %d classes' % (path, len(names[layer]), layer, n))
    iteration = os.path.basename(args.weights)
    results = do_seg_tests(net, iteration, args.save, list(net.layers[0].reader.ids), heads=heads,
                           exclude=args.exclude, per_class=args.per_class, names=names)
    if args.confusion:
        from fcn import charts  # matplotlib: only when a chart is asked for
        stem, ext = os.path.splitext(args.confusion)
        for layer, result in results.items():
            path = args.confusion if len(heads) == 1 else '%s-%s%s' % (stem, layer, ext or '.png')
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            charts.confusion(path, result['hist'], names.get(layer),
                             title='%s: %s (rows normalized)' % (iteration, layer))
            print('confusion matrix: %s' % path)


def data_net(caffe, path, weights, options):
    """The TEST net at ``path`` with ``weights``, its data layer given ``options`` (a dict or None)."""
    from nets.data import with_data_options
    from torchcaffe.formats import prototxt, read_net
    if not options:
        return caffe.Net(path, weights, caffe.TEST)
    fd, tmp = tempfile.mkstemp(suffix='.prototxt')
    os.close(fd)
    try:
        prototxt.write(tmp, with_data_options(read_net(path), options))
        return caffe.Net(tmp, weights, caffe.TEST)
    finally:
        os.unlink(tmp)


if __name__ == '__main__':
    main()
