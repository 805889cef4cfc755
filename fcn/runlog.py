"""A run's log: one record per display or score event, as JSON lines (log.jsonl) and as a
table (log.csv), and its charts (charts/: curves, per-class IoU, confusion matrix)."""
import csv
import io
import json
import math
import os
import time
import warnings

import numpy as np

from torchcaffe.formats.files import atomic_write

BASE = ('iter', 'time', 'loss', 'lr')
HEAD = ('mean_iu', 'overall_acc', 'mean_acc', 'fwavacc', 'loss')  # CSV columns per scored head


def _json(value):
    """``value`` in JSON's terms: arrays as lists, numpy numbers as Python's, NaN and infinities as None."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary(result):
    """One head's do_seg_tests result as JSON numbers; the histogram as integer counts."""
    return {k: np.rint(v).astype(np.int64).tolist() if k == 'hist' else _json(v)
            for k, v in result.items()}


class Log:
    """The records of a run in ``out``; ``names``: class names, or {score layer: names}."""

    def __init__(self, out, names=None):
        self.path = os.path.join(out, 'log.jsonl')
        self.csv = os.path.join(out, 'log.csv')
        self.charts = os.path.join(out, 'charts')
        self.curve = os.path.join(self.charts, 'curves.png')
        self.names = names
        self.columns = None  # those of log.csv as this object last wrote it (see _columns)
        self.records = _read(self.path) if os.path.isfile(self.path) else []

    def write(self, **record):
        record = _json(dict(record, time=round(time.time(), 3)))
        self.records.append(record)
        with open(self.path, 'a') as f:
            f.write(json.dumps(record, allow_nan=False) + '\n')
        if self.columns is None or not _columns([record]).keys() <= self.columns.keys() \
                or not os.path.isfile(self.csv):
            self._rewrite_csv()
        else:
            with open(self.csv, 'a', newline='') as f:
                csv.writer(f).writerow(_row(record, self.columns))

    def truncate(self, iteration):
        """Forget records after ``iteration`` (a resumed run rewrites them)."""
        self.records = [r for r in self.records if r['iter'] <= iteration]
        atomic_write(self.path, ''.join(json.dumps(r, allow_nan=False) + '\n'
                                        for r in self.records).encode())
        self._rewrite_csv()

    def score(self, iteration, results):
        """Log ``results`` ({score layer: do_seg_tests result}) and chart them."""
        self.write(iter=iteration, scores={layer: summary(r) for layer, r in results.items()})
        from fcn import charts
        os.makedirs(self.charts, exist_ok=True)
        for layer, result in results.items():
            suffix = '' if len(results) == 1 else '_' + layer
            names = self._names(layer, len(result['hist']))
            title = '%s, iteration %d' % (layer, iteration)
            charts.per_class_iou(os.path.join(self.charts, 'per_class_iou%s.png' % suffix),
                                 result['iu'], names, 'per-class IoU: ' + title)
            charts.confusion(os.path.join(self.charts, 'confusion%s.png' % suffix),
                             result['hist'], names, 'confusion (rows normalized): ' + title)
        self.plot()

    def plot(self):
        """Draw the training curves, charts/curves.png."""
        from fcn import charts
        os.makedirs(self.charts, exist_ok=True)
        charts.curves(self.curve, self.records)

    def _names(self, layer, n):
        """The class names of ``layer``'s head; numbers (with a warning) when they do not fit."""
        names = self.names.get(layer) if isinstance(self.names, dict) else self.names
        if names is not None and len(names) != n:
            # a chart must not stop training: the run goes on with numbered classes
            print('log: %d class names for %d classes of %s; charts number the classes'
                  % (len(names), n, layer), flush=True)
            return None
        return names

    def _rewrite_csv(self):
        self.columns = _columns(self.records)
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(self.columns)
        writer.writerows(_row(r, self.columns) for r in self.records)
        atomic_write(self.csv, text.getvalue().encode())


def _read(path):
    """The records of log.jsonl ``path``. A torn last line (a run killed while writing it) is
    dropped from the file with a warning; a bad line before the last is an error."""
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError as e:
            if number < len(lines):
                raise ValueError('%s: line %d is not a JSON record (%s); the log is damaged: '
                                 'remove that line to go on' % (path, number, e)) from None
            warnings.warn('%s: its last line is incomplete (the run was stopped while writing it); '
                          'dropped' % path, stacklevel=3)
            atomic_write(path, ''.join(lines[:-1]).encode())
            return records
    if lines and not lines[-1].endswith('\n'):  # whole but unterminated: the next record needs its own line
        atomic_write(path, (''.join(lines) + '\n').encode())
    return records


def _columns(records):
    """{CSV column: (head or None, key)}: the base columns, other plain values, then each head's scores."""
    columns = {key: (None, key) for key in BASE}
    heads = {}
    for r in records:
        columns.update({k: (None, k) for k, v in r.items() if k not in columns and k != 'scores'
                        and not isinstance(v, (dict, list))})
        heads.update(dict.fromkeys(r.get('scores', {})))
    columns.update({'%s %s' % (head, key): (head, key) for head in heads for key in HEAD})
    return columns


def _row(record, columns):
    values = [record.get('scores', {}).get(head, {}).get(key) if head else record.get(key)
              for head, key in columns.values()]
    return ['' if v is None else v for v in values]
