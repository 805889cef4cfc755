"""charts.py (training curves, per-class IoU, confusion matrix, bars) and runlog.py's Log
(log.jsonl, log.csv and charts/ of a run directory)."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from fcn import charts
from fcn.runlog import Log
from fcn.score import metrics

VOC = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
       'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
       'tvmonitor']


def png_size(path):
    with Image.open(path) as im:
        assert im.format == 'PNG'
        return im.size


def legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def texts(ax):
    return [t.get_text() for t in ax.texts]


def tick_labels(axis):
    return [t.get_text() for t in axis.get_ticklabels()]


def records(heads=('score',)):
    out = []
    for it in range(10, 101, 10):
        out.append({'iter': it, 'loss': 10.0 / it, 'lr': 1e-4})
        if it % 50 == 0:
            out.append({'iter': it, 'scores': {h: {'mean_iu': it / 200, 'overall_acc': it / 110,
                                                    'loss': 5.0 / it} for h in heads}})
    return out


def test_curves_of_loss_and_two_heads(tmp_path):
    fig = charts._figure_curves(records(('score_sem', 'score_geo')))
    loss, scores = fig.axes
    assert (loss.get_xlabel(), loss.get_ylabel()) == ('iteration', 'loss')
    assert (scores.get_xlabel(), scores.get_ylabel()) == ('iteration', 'score')
    assert legend(loss) == ['training loss', 'validation loss (score_sem)', 'validation loss (score_geo)']
    assert legend(scores) == ['score_sem mean IU', 'score_sem pixel accuracy',
                              'score_geo mean IU', 'score_geo pixel accuracy']
    np.testing.assert_allclose(loss.lines[0].get_xydata(), [(it, 10.0 / it) for it in range(10, 101, 10)])
    np.testing.assert_allclose(scores.lines[0].get_xydata(), [(50, 0.25), (100, 0.5)])
    assert scores.get_ylim()[0] == 0 and scores.get_ylim()[1] >= 1
    charts.curves(tmp_path / 'curves.png', records())
    width, height = png_size(tmp_path / 'curves.png')
    assert width >= 600 and height >= 400


def test_curves_of_one_head_name_the_metrics_alone():
    assert legend(charts._figure_curves(records()).axes[1]) == ['mean IU', 'pixel accuracy']


def test_curves_with_only_loss_only_scores_or_nothing(tmp_path):
    loss_only = charts._figure_curves([r for r in records() if 'loss' in r])
    assert len(loss_only.axes[0].lines) == 1 and 'no scores yet' in texts(loss_only.axes[1])
    scores_only = charts._figure_curves([r for r in records() if 'scores' in r])
    assert 'no loss logged yet' not in texts(scores_only.axes[0])  # the validation loss is there
    assert len(scores_only.axes[1].lines) == 2
    empty = charts._figure_curves([])
    assert 'no loss logged yet' in texts(empty.axes[0]) and 'no scores yet' in texts(empty.axes[1])
    assert empty.axes[0].get_legend() is None
    charts.curves(tmp_path / 'empty.png', [])
    assert png_size(tmp_path / 'empty.png')[0] >= 600


def test_curves_draw_gaps_for_null_scores():
    log = [{'iter': 1, 'scores': {'score': {'mean_iu': None, 'overall_acc': 0.5, 'loss': None}}},
           {'iter': 2, 'scores': {'score': {'mean_iu': 0.3, 'overall_acc': 0.6, 'loss': None}}}]
    ax = charts._figure_curves(log).axes[1]
    assert np.isnan(ax.lines[0].get_ydata()[0]) and ax.lines[0].get_ydata()[1] == 0.3


def test_per_class_iou_bars_names_values_and_mean(tmp_path):
    iu = np.linspace(0, 1, 21)
    iu[5] = np.nan
    fig = charts._figure_per_class_iou(iu, VOC, 'voc')
    ax = fig.axes[0]
    assert tick_labels(ax.yaxis) == VOC
    assert ax.get_xlabel() == 'IoU' and ax.get_xlim() == (0, 1) and ax.get_title() == 'voc'
    bars = ax.patches
    assert len(bars) == 20  # none for the NaN class
    assert sorted(b.get_width() for b in bars) == sorted(np.delete(iu, 5))
    assert 5 not in {round(b.get_y() + b.get_height() / 2) for b in bars}
    assert texts(ax).count('n/a') == 1 and '0.500' in texts(ax) and '1.000' in texts(ax)
    mean = np.nanmean(iu)
    assert legend(ax) == ['mean IU %.3f' % mean]
    assert ax.get_lines()[0].get_xdata()[0] == pytest.approx(mean)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # the first class on top
    charts.per_class_iou(tmp_path / 'iou.png', iu, VOC)
    assert png_size(tmp_path / 'iou.png')[1] >= 400


def test_per_class_iou_grows_with_the_class_count():
    few, many = charts._figure_per_class_iou([0.2, 0.9]), charts._figure_per_class_iou(np.full(60, 0.5))
    assert tick_labels(few.axes[0].yaxis) == ['0', '1']
    assert many.get_figheight() / 60 >= 0.2 and many.get_figheight() > 3 * few.get_figheight()
    nothing = charts._figure_per_class_iou([np.nan, np.nan])
    assert not nothing.axes[0].patches and nothing.axes[0].get_legend() is None
    with pytest.raises(ValueError, match='3 class names for 2 classes'):
        charts._figure_per_class_iou([0.1, 0.2], ['a', 'b', 'c'])


def test_confusion_is_normalized_by_ground_truth_rows(tmp_path):
    hist = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 2]])
    names = ['background', 'circle', 'square']
    fig = charts._figure_confusion(hist, names)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # and its colorbar
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown[[0, 2]], [[0.8, 0.2, 0], [0.25, 0.25, 0.5]])
    assert shown.mask[1].all() and not shown.mask[[0, 2]].any()  # no pixels: a blank row
    assert (ax.get_ylabel(), ax.get_xlabel()) == ('ground truth', 'predicted')
    assert tick_labels(ax.xaxis) == names and tick_labels(ax.yaxis) == names
    assert ax.xaxis.get_ticklabels()[0].get_rotation() > 0
    assert sorted(texts(ax)) == sorted(['0.80', '0.20', '0', '0.25', '0.25', '0.50'])
    charts.confusion(tmp_path / 'confusion.png', hist, names)
    width, height = png_size(tmp_path / 'confusion.png')
    assert width >= 400 and height >= 400


def test_confusion_of_many_classes_leaves_the_cells_unwritten():
    rng = np.random.default_rng(0)
    hist = rng.integers(1, 50, (40, 40))
    fig = charts._figure_confusion(hist)
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), hist / hist.sum(1, keepdims=True))
    assert not ax.texts and tick_labels(ax.yaxis) == [str(c) for c in range(40)]
    assert fig.get_figheight() > charts._figure_confusion(hist[:6, :6]).get_figheight()


def test_bars_show_values_and_errors(tmp_path):
    values = {'fcn8s forward torch-cpu': 1.5, 'fcn8s forward caffe-cpu': float('nan'), 'tiny': 0.25}
    ax = charts._figure_bars('mean seconds', values, unit=' s').axes[0]
    assert tick_labels(ax.yaxis) == list(values) and ax.get_title() == 'mean seconds'
    assert [b.get_width() for b in ax.patches] == [1.5, 0.25]
    assert texts(ax) == ['1.5 s', 'error', '0.25 s'] and ax.get_xlabel() == 's'
    assert ax.get_xlim()[1] > 1.5  # room for the value at the longest bar
    charts.bars(tmp_path / 'bars.png', 'mean seconds', values, unit=' s')
    assert png_size(tmp_path / 'bars.png')[0] >= 600
    charts.bars(tmp_path / 'none.png', 'nothing measured', {})
    assert png_size(tmp_path / 'none.png')[0] >= 600


def strict_json(line):
    def refuse(constant):
        raise ValueError('not JSON: %s' % constant)
    return json.loads(line, parse_constant=refuse)


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def seg_result(hist, loss=0.5):
    """A do_seg_tests result of one head."""
    hist = np.asarray(hist)
    return dict(metrics(hist), hist=hist, loss=loss)


HIST = [[5, 1, 0], [2, 3, 0], [0, 0, 0]]  # class 2 never seen nor predicted: its IU is NaN
HEAD_COLUMNS = ['mean_iu', 'overall_acc', 'mean_acc', 'fwavacc', 'loss']


def test_log_writes_json_lines_csv_and_charts(tmp_path):
    log = Log(str(tmp_path))
    log.write(iter=10, loss=2.0, lr=0.01)
    log.write(iter=20, loss=float('nan'), lr=np.float32(0.01))
    assert not (tmp_path / 'charts').exists()
    log.score(20, {'score': seg_result(HIST)})
    lines = (tmp_path / 'log.jsonl').read_text().splitlines()
    records = [strict_json(line) for line in lines]
    assert [r['iter'] for r in records] == [10, 20, 20] and records[1]['loss'] is None
    scores = records[2]['scores']['score']
    assert scores['hist'] == HIST and scores['iu'][2] is None and scores['loss'] == 0.5
    assert scores['mean_iu'] == pytest.approx(np.nanmean([5 / 8, 3 / 6]))
    assert scores['acc'][:2] == pytest.approx([5 / 6, 3 / 5]) and scores['acc'][2] is None
    assert log.records == records

    rows = read_csv(tmp_path / 'log.csv')
    assert rows[0] == ['iter', 'time', 'loss', 'lr'] + ['score ' + c for c in HEAD_COLUMNS]
    assert [r[0] for r in rows[1:]] == ['10', '20', '20']
    assert rows[1][2:4] == ['2.0', '0.01'] and rows[1][4:] == [''] * 5
    assert rows[2][2] == ''  # NaN loss
    assert float(rows[3][4]) == pytest.approx(scores['mean_iu']) and rows[3][8] == '0.5'
    assert float(rows[3][1]) == records[2]['time']

    for chart in ('curves', 'per_class_iou', 'confusion'):
        assert png_size(tmp_path / 'charts' / (chart + '.png'))[0] >= 400
    assert log.curve == str(tmp_path / 'charts' / 'curves.png')


def test_log_csv_appended_equals_csv_rewritten(tmp_path):
    log = Log(str(tmp_path))
    log.write(iter=1, loss=3.0, lr=0.1)
    log.score(1, {'score': seg_result(HIST)})
    log.write(iter=2, loss=2.0, lr=0.1)
    log.write(iter=3, loss=1.0, lr=0.1, data_seconds=0.25)  # a new column: the table is rewritten
    log.write(iter=4, loss=0.5, lr=0.1)
    appended = read_csv(tmp_path / 'log.csv')
    assert appended[0][4] == 'data_seconds' and appended[2][4] == '' and appended[5][4] == ''
    assert appended[4][4] == '0.25' and len(appended) == 6
    Log(str(tmp_path)).truncate(10)
    assert read_csv(tmp_path / 'log.csv') == appended


def test_log_truncate_rewrites_both_files(tmp_path):
    log = Log(str(tmp_path))
    log.write(iter=1, loss=3.0, lr=0.1)
    log.score(2, {'score': seg_result(HIST)})
    log.write(iter=3, loss=1.0, lr=0.1)
    resumed = Log(str(tmp_path))
    assert resumed.records == log.records
    resumed.truncate(1)
    assert [strict_json(line)['iter'] for line in (tmp_path / 'log.jsonl').read_text().splitlines()] == [1]
    assert read_csv(tmp_path / 'log.csv') == [['iter', 'time', 'loss', 'lr'],
                                               ['1', str(log.records[0]['time']), '3.0', '0.1']]
    resumed.write(iter=2, loss=2.0, lr=0.1)
    assert [r[0] for r in read_csv(tmp_path / 'log.csv')] == ['iter', '1', '2']


def test_log_of_several_heads_names_charts_and_columns_by_head(tmp_path):
    log = Log(str(tmp_path), names={'score_sem': ['a', 'b', 'c'], 'score_geo': ['x', 'y']})
    log.score(5, {'score_sem': seg_result(HIST), 'score_geo': seg_result([[1, 0], [0, 1]], loss=None)})
    charts_dir = tmp_path / 'charts'
    assert sorted(p.name for p in charts_dir.iterdir()) == sorted(
        ['curves.png'] + ['%s_%s.png' % (c, h) for c in ('per_class_iou', 'confusion')
                          for h in ('score_sem', 'score_geo')])
    header, row = read_csv(tmp_path / 'log.csv')
    assert header[4:] == ['score_sem ' + c for c in HEAD_COLUMNS] + ['score_geo ' + c for c in HEAD_COLUMNS]
    assert row[-1] == '' and float(row[-5]) == 1.0  # no loss; mean IU 1


def test_log_names_that_do_not_fit_number_the_classes(tmp_path, capsys):
    log = Log(str(tmp_path), names=VOC)
    log.score(1, {'score': seg_result(HIST)})
    assert '21 class names for 3 classes' in capsys.readouterr().out
    assert (tmp_path / 'charts' / 'confusion.png').is_file()


def test_log_plot_draws_the_curves(tmp_path):
    log = Log(str(tmp_path))
    log.plot()
    assert png_size(log.curve)[0] >= 600
