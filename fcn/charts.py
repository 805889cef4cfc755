"""Charts of a run (training curves, per-class IoU, confusion matrix) and of benchmarks.

Drawn with matplotlib's object API on the Agg canvas, never pyplot: no window
opens, no global backend is switched, and threads do not share figures. Each
chart is a ``_figure_*`` function that builds the Figure (tests inspect it) and
a public function that writes it as a PNG, atomically.
"""
import io

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from torchcaffe.formats.files import atomic_write

DPI = 100
CELL_VALUES = 25  # confusion matrices up to this many classes print each cell's value
METRICS = (('mean_iu', 'mean IU', '-'), ('overall_acc', 'pixel accuracy', '--'))


def _save(fig, path):
    """Write ``fig`` as a PNG; a reader sees the old chart or the new one, never half of one."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=DPI)
    atomic_write(path, buf.getvalue())


def _number(value):
    """A logged number as a float; None (NaN in the JSON log) becomes NaN."""
    return np.nan if value is None else float(value)


def _outside_legend(ax):
    """A legend right of the axes, where it covers no data (constrained layout makes room)."""
    ax.legend(loc='upper left', bbox_to_anchor=(1.02, 1), borderaxespad=0, fontsize='small')


def _no_data(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha='center', va='center', color='gray')


def _class_names(names, n):
    if names is None:
        return [str(c) for c in range(n)]
    if len(names) != n:
        raise ValueError('%d class names for %d classes' % (len(names), n))
    return [str(name) for name in names]


def _figure_curves(records):
    """Loss (training, and validation per head) and scores per head against iteration."""
    fig = Figure(figsize=(9, 7), layout='constrained')
    loss_ax, score_ax = fig.subplots(2, 1)
    losses = [(r['iter'], _number(r['loss'])) for r in records if 'loss' in r]
    scored = [r for r in records if 'scores' in r]
    heads = list(dict.fromkeys(head for r in scored for head in r['scores']))
    marker = '.' if len(losses) + len(scored) <= 60 else None  # dots only while they stay apart
    if losses:
        loss_ax.plot(*zip(*losses), marker=marker, color='C0', label='training loss')
    for i, head in enumerate(heads):
        color = 'C%d' % (i + 1)
        points = [(r['iter'], _number(r['scores'][head].get('loss'))) for r in scored
                  if head in r['scores']]
        if any(np.isfinite(y) for _, y in points):
            loss_ax.plot(*zip(*points), marker='o', ls='--', color=color,
                         label='validation loss' + (' (%s)' % head if len(heads) > 1 else ''))
        for key, label, style in METRICS:
            points = [(r['iter'], _number(r['scores'][head].get(key))) for r in scored
                      if head in r['scores']]
            score_ax.plot(*zip(*points), marker='o', ls=style, color=color,
                          label='%s %s' % (head, label) if len(heads) > 1 else label)
    loss_ax.set(title='loss', xlabel='iteration', ylabel='loss')
    score_ax.set(title='validation scores', xlabel='iteration', ylabel='score', ylim=(0, 1.04))  # 1 stays visible
    for ax, empty in ((loss_ax, 'no loss logged yet'), (score_ax, 'no scores yet')):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            _outside_legend(ax)
        else:
            _no_data(ax, empty)
    if losses or scored:  # one iteration axis for both panels
        score_ax.sharex(loss_ax)
    return fig


def curves(path, records):
    """Training curves of log records: {'iter', 'loss'} and {'iter', 'scores': {head: metrics}}."""
    _save(_figure_curves(records), path)


def _figure_per_class_iou(iu, names=None, title=None):
    iu = np.array([_number(v) for v in np.ravel(iu)])
    names = _class_names(names, len(iu))
    rows = np.arange(len(iu))
    defined = np.isfinite(iu)
    fig = Figure(figsize=(7.5, max(2.8, 1.3 + 0.24 * len(iu))), layout='constrained')
    ax = fig.subplots()
    ax.barh(rows[defined], iu[defined], color='C0', height=0.7)
    for row, value in zip(rows, iu):
        if not np.isfinite(value):
            ax.text(0.01, row, 'n/a', va='center', fontsize=8, color='gray', style='italic')
        elif value > 0.88:  # near 1 the value goes inside the bar, so it stays in the axes
            ax.text(value - 0.01, row, '%.3f' % value, va='center', ha='right', fontsize=8, color='white')
        else:
            ax.text(value + 0.01, row, '%.3f' % value, va='center', fontsize=8)
    if defined.any():
        mean = iu[defined].mean()
        ax.axvline(mean, color='C3', ls='--', label='mean IU %.3f' % mean)
        _outside_legend(ax)
    ax.set_yticks(rows, names)
    ax.set(xlim=(0, 1), ylim=(len(iu) - 0.5, -0.5), xlabel='IoU',  # first class on top
           title=title or 'per-class IoU')
    ax.grid(True, axis='x', alpha=0.3)
    return fig


def per_class_iou(path, iu, names=None, title=None):
    """Horizontal bars of per-class IoU (NaN: 'n/a'), with the mean IU as a line."""
    _save(_figure_per_class_iou(iu, names, title), path)


def _figure_confusion(hist, names=None, title=None):
    hist = np.asarray(hist, np.float64)
    n = len(hist)
    names = _class_names(names, n)
    pixels = hist.sum(1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
        share = np.where(pixels > 0, hist / pixels, np.nan)  # rows without ground truth stay blank
    side = 3 + (0.45 if n <= CELL_VALUES else 0.28) * n
    fig = Figure(figsize=(side + 1.2, side), layout='constrained')
    ax = fig.subplots()
    cmap = colormaps['Blues'].with_extremes(bad='white')
    image = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0, vmax=1, interpolation='nearest')
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the class's pixels")
    if n <= CELL_VALUES:
        size = 9 if n <= 10 else 7
        for (gt, pred), value in np.ndenumerate(share):
            if np.isfinite(value):
                ax.text(pred, gt, '0' if value == 0 else '%.2f' % value, ha='center', va='center',
                        fontsize=size, color='white' if value > 0.5 else 'black')
    small = {} if n <= CELL_VALUES else {'fontsize': 7}
    # the end of each rotated name at its tick
    ax.set_xticks(range(n), names, rotation=45 if n <= CELL_VALUES else 90, ha='right',
                  va='top' if n <= CELL_VALUES else 'center', rotation_mode='anchor', **small)
    ax.set_yticks(range(n), names, **small)
    ax.set(xlabel='predicted', ylabel='ground truth', title=title or 'confusion matrix (rows normalized)')
    return fig


def confusion(path, hist, names=None, title=None):
    """The confusion matrix ``hist`` (rows: ground truth) normalized by row."""
    _save(_figure_confusion(hist, names, title), path)


def _figure_bars(title, values, unit=''):
    labels = list(values)
    numbers = np.array([_number(values[k]) for k in labels])
    rows = np.arange(len(labels))
    defined = np.isfinite(numbers)
    fig = Figure(figsize=(9, max(2.5, 1.3 + 0.3 * len(labels))), layout='constrained')
    ax = fig.subplots()
    ax.barh(rows[defined], numbers[defined], color='C0', height=0.7)
    top = numbers[defined].max() if defined.any() and numbers[defined].max() > 0 else 1.0
    for row, value in zip(rows, numbers):
        if np.isfinite(value):
            ax.text(value + 0.01 * top, row, '%.4g%s' % (value, unit), va='center', fontsize=8)
        else:
            ax.text(0.01 * top, row, 'error', va='center', fontsize=8, color='C3')
    ax.set_yticks(rows, labels)
    ax.set(xlim=(0, top * 1.18), title=title)  # room for the values
    if labels:
        ax.set_ylim(len(labels) - 0.5, -0.5)  # the first on top
    else:
        _no_data(ax, 'no results')
    if unit.strip():
        ax.set_xlabel(unit.strip())
    ax.grid(True, axis='x', alpha=0.3)
    return fig


def bars(path, title, values, unit=''):
    """Horizontal bars of ``{label: value}`` (benchmark results); NaN shows 'error'."""
    _save(_figure_bars(title, values, unit), path)
