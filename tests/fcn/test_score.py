"""score.py: confusion histograms, metrics by hand, and scoring a tiny net with two heads."""
import json
import re
import textwrap
import types
import warnings

import numpy as np
import pytest

from fcn import backend
from fcn import score
from fcn import vis

caffe = backend.load()  # FCN_BACKEND=caffe runs these tests on BVLC pycaffe

# --- fast_hist ---------------------------------------------------------------------------


def test_fast_hist_counts_ground_truth_rows_and_prediction_columns():
    gt = np.array([0, 0, 1, 1, 2, 255, 1, 3], np.float32)  # labels come as float blobs
    pred = np.array([0, 1, 1, 1, 0, 2, 0, 0])
    hist = score.fast_hist(gt, pred, 3)
    # 255 (void) and 3 (outside the 3 classes) are ignored; class 2 is never predicted right
    np.testing.assert_array_equal(hist, [[1, 1, 0],
                                         [1, 2, 0],
                                         [1, 0, 0]])
    np.testing.assert_array_equal(score.fast_hist(gt.reshape(2, 4), pred.reshape(2, 4), 3), hist)


def test_fast_hist_rejects_bad_input():
    with pytest.raises(ValueError, match='pixels'):
        score.fast_hist(np.zeros(3), np.zeros(4), 2)
    with pytest.raises(ValueError, match='predictions must lie in'):
        score.fast_hist(np.zeros(2), np.array([0, 2]), 2)
    # a prediction at a void pixel does not matter
    assert score.fast_hist(np.array([255, 0]), np.array([7, 1]), 2).sum() == 1


# --- metrics ------------------------------------------------------------------------------

# rows: ground truth, columns: prediction. Class 2 is absent from the ground truth but
# predicted, class 3 is present but never predicted, class 4 neither.
HIST = np.array([[8, 2, 0, 0, 0],
                 [1, 4, 0, 0, 0],
                 [0, 0, 0, 0, 0],
                 [0, 1, 3, 0, 0],
                 [0, 0, 0, 0, 0]])


def test_metrics_by_hand():
    m = score.metrics(HIST)
    assert m['overall_acc'] == pytest.approx(12 / 19)
    # accuracy per class: 8/10, 4/5, undefined, 0/4, undefined
    np.testing.assert_allclose(m['acc'], [0.8, 0.8, np.nan, 0, np.nan])
    assert m['mean_acc'] == pytest.approx((0.8 + 0.8 + 0) / 3)
    # IU: 8/(10+9-8), 4/(5+7-4), 0/(0+3-0), 0/(4+0-0), undefined
    np.testing.assert_allclose(m['iu'], [8 / 11, 0.5, 0, 0, np.nan])
    assert m['mean_iu'] == pytest.approx((8 / 11 + 0.5) / 4)
    # weighted by ground truth frequency 10/19, 5/19, 0, 4/19, 0
    assert m['fwavacc'] == pytest.approx(10 / 19 * 8 / 11 + 5 / 19 * 0.5)
    assert 'exclude' not in m and 'mean_iu_excl' not in m


def test_exclude_absent_classes_changes_only_the_means_they_spoil():
    m = score.metrics(HIST, exclude='absent')
    assert m['exclude'] == [2, 4]
    # class 2's IU of 0 (predicted, never present) no longer drags the mean down
    assert m['mean_iu_excl'] == pytest.approx((8 / 11 + 0.5 + 0) / 3)
    assert m['mean_iu'] == pytest.approx((8 / 11 + 0.5) / 4)
    for key in ('overall_acc', 'mean_acc', 'fwavacc'):
        assert m[key + '_excl'] == pytest.approx(m[key])
    assert score.metrics(HIST, exclude=[4, 2])['mean_iu_excl'] == m['mean_iu_excl']


def test_exclude_a_present_class_ignores_its_pixels():
    m = score.metrics(HIST, exclude=[1])
    # scored rows 0, 2, 3, 4 (14 pixels); class 1's pixels predicted as 0 no longer count
    assert m['overall_acc_excl'] == pytest.approx(8 / 14)
    assert m['mean_acc_excl'] == pytest.approx((0.8 + 0) / 2)
    # IU: 8/(10+8-8) = 0.8, class 2: 0/3, class 3: 0/4, class 4 undefined
    assert m['mean_iu_excl'] == pytest.approx(0.8 / 3)
    assert m['fwavacc_excl'] == pytest.approx(10 / 14 * 0.8)
    assert m['mean_iu'] == pytest.approx((8 / 11 + 0.5) / 4)  # the full numbers stay
    with pytest.raises(ValueError, match='classes must lie'):
        score.metrics(HIST, exclude=[5])
    with pytest.raises(ValueError, match='absent'):
        score.metrics(HIST, exclude='missing')


def test_metrics_of_a_perfect_and_an_empty_histogram_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        m = score.metrics(np.diag([3, 0, 5]))
        assert (m['overall_acc'], m['mean_acc'], m['mean_iu'], m['fwavacc']) == (1, 1, 1, 1)
        m = score.metrics(np.zeros((2, 2)))
        assert np.isnan(m['overall_acc']) and np.isnan(m['mean_iu']) and m['fwavacc'] == 0


# --- scoring a net ------------------------------------------------------------------------

DATA_LAYER = '''
import json

import numpy as np

from fcn import backend

caffe = backend.load()


class TinySegData(caffe.Layer):
    """Serves the images and labels of an npz file in order, one per forward."""

    def setup(self, bottom, top):
        self.arrays = dict(np.load(json.loads(self.param_str)['path']))
        self.idx = 0

    def reshape(self, bottom, top):
        for i, name in enumerate(('data', 'label', 'geo')):  # pycaffe's top only indexes
            top[i].reshape(*self.arrays[name].shape[1:])

    def forward(self, bottom, top):
        for i, name in enumerate(('data', 'label', 'geo')):
            top[i].data[...] = self.arrays[name][self.idx]
        self.idx += 1
'''

NET = '''
layer { name: "data" type: "Python" top: "data" top: "label" top: "geo"
  python_param { module: "tiny_seg_data" layer: "TinySegData" param_str: '%s' } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
  convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "score_geo" type: "Convolution" bottom: "data" top: "score_geo"
  convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
  loss_param { ignore_label: 255 normalize: false } }
layer { name: "loss_geo" type: "SoftmaxWithLoss" bottom: "score_geo" bottom: "geo" top: "loss_geo"
  loss_param { ignore_label: 255 normalize: false } }
layer { name: "acc" type: "Accuracy" bottom: "score" bottom: "label" top: "acc"
  accuracy_param { ignore_label: 255 } }
'''
IDS = ['a', 'b', 'c']


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A net reading 3 images of 4x5; returns (prototxt path, arrays)."""
    rng = np.random.RandomState(0)
    arrays = {'data': rng.randn(3, 1, 3, 4, 5).astype(np.float32),
              'label': rng.randint(0, 3, (3, 1, 1, 4, 5)).astype(np.float32),
              'geo': rng.randint(0, 2, (3, 1, 1, 4, 5)).astype(np.float32)}
    arrays['label'][0, 0, 0, 0, :3] = 255
    arrays['geo'][1, 0, 0, 1] = 255
    np.savez(tmp_path / 'tiny.npz', **arrays)
    (tmp_path / 'tiny_seg_data.py').write_text(DATA_LAYER)
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / 'net.prototxt'
    path.write_text(textwrap.dedent(NET % json.dumps({'path': str(tmp_path / 'tiny.npz')})))
    return str(path), arrays


def set_weights(net):
    """score = the 3 input channels, score_geo = the first 2: predictions are their argmax."""
    net.params['score'][0].data[...] = np.eye(3).reshape(3, 3, 1, 1)
    net.params['score_geo'][0].data[...] = np.eye(3)[:2].reshape(2, 3, 1, 1)


def expected(arrays, channels, gt):
    """Histogram (by loops) and mean summed softmax loss of the argmax of ``channels``."""
    n = channels
    hist, loss = np.zeros((n, n), int), 0.0
    for x, label in zip(arrays['data'][:, 0, :n], arrays[gt][:, 0, 0]):
        x = x.astype(np.float64)
        prob = np.exp(x) / np.exp(x).sum(0)
        for i, j in np.ndindex(label.shape):
            if label[i, j] != 255:
                hist[int(label[i, j]), x[:, i, j].argmax()] += 1
                loss -= np.log(prob[int(label[i, j]), i, j])
    return hist, loss / len(arrays['data'])


def test_loss_blob_follows_the_ground_truth_through_splits(tiny):
    net = caffe.Net(tiny[0], caffe.TEST)
    assert 'Split' in [layer.type for layer in net.layers]  # score and label feed loss and acc
    assert score.loss_blob(net, 'label') == 'loss'
    assert score.loss_blob(net, 'geo') == 'loss_geo'
    assert score.loss_blob(net, 'data') is None


def test_compute_hist_over_the_split(tiny, tmp_path):
    net = caffe.Net(tiny[0], caffe.TEST)
    set_weights(net)
    hist, loss = score.compute_hist(net, str(tmp_path / 'pred'), IDS, 'score', 'label', 'loss')
    want_hist, want_loss = expected(tiny[1], 3, 'label')
    np.testing.assert_array_equal(hist, want_hist)
    assert hist.sum() == 3 * 20 - 3
    assert loss == pytest.approx(want_loss, rel=1e-5)
    for i, idx in enumerate(IDS):
        np.testing.assert_array_equal(vis.read_label(tmp_path / 'pred' / (idx + '.png')),
                                      tiny[1]['data'][i, 0].argmax(0))


def test_do_seg_tests_scores_two_heads_in_one_pass(tiny, capsys):
    net = caffe.Net(tiny[0], caffe.TEST)
    set_weights(net)
    results = score.do_seg_tests(net, 7, None, IDS, heads=(('score', 'label'), ('score_geo', 'geo')),
                                 exclude={'score': [2]}, per_class=True,
                                 names={'score_geo': ['horizontal', 'vertical']})
    assert list(results) == ['score', 'score_geo']
    for layer, gt, n in (('score', 'label', 3), ('score_geo', 'geo', 2)):
        want_hist, want_loss = expected(tiny[1], n, gt)
        r = results[layer]
        np.testing.assert_array_equal(r['hist'], want_hist)
        assert r['loss'] == pytest.approx(want_loss, rel=1e-5)
        m = score.metrics(want_hist)
        for key in ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc'):
            assert r[key] == pytest.approx(m[key])
    assert results['score']['exclude'] == [2] and 'exclude' not in results['score_geo']
    want = score.metrics(expected(tiny[1], 3, 'label')[0], [2])
    assert results['score']['mean_iu_excl'] == pytest.approx(want['mean_iu_excl'])
    out, err = capsys.readouterr()
    assert 'iteration 7: score vs label on 3 images' in out
    assert 'iteration 7: score_geo vs geo on 3 images' in out
    assert 'loss %.6g' % results['score']['loss'] in out
    assert 'mean IU %.4f' % results['score']['mean_iu'] in out
    assert 'without classes 2:' in out and out.count('without classes') == 1
    assert 'horizontal' in out and 'vertical' in out
    assert 'scoring 3/3' in err
    # the data layer served 3 images: one forward for both heads
    assert net.layer_dict['data'].idx == 3


def test_labels_all_ignored_warn_that_the_scores_are_nan(tiny, tmp_path):
    arrays = dict(np.load(tmp_path / 'tiny.npz'))
    arrays['label'][...] = 255
    np.savez(tmp_path / 'tiny.npz', **arrays)
    net = caffe.Net(tiny[0], caffe.TEST)
    with pytest.warns(UserWarning, match="scoring 'score' against 'label': no pixel of the 3 images has a label"):
        results = score.do_seg_tests(net, 1, None, IDS, heads=(('score', 'label'), ('score_geo', 'geo')))
    assert np.isnan(results['score']['mean_iu']) and not np.isnan(results['score_geo']['mean_iu'])


def test_seg_tests_scores_the_train_nets_weights(tiny, tmp_path):
    train, test = caffe.Net(tiny[0], caffe.TRAIN), caffe.Net(tiny[0], caffe.TEST)
    set_weights(train)  # the test net's own weights stay zero: every prediction would be 0
    solver = types.SimpleNamespace(net=train, test_nets=[test], iter=4000)
    fmt = str(tmp_path / 'seg-{}')
    results = score.seg_tests(solver, fmt, IDS, heads=(('score', 'label'), ('score_geo', 'geo')))
    np.testing.assert_array_equal(results['score']['hist'], expected(tiny[1], 3, 'label')[0])
    np.testing.assert_array_equal(results['score_geo']['hist'], expected(tiny[1], 2, 'geo')[0])
    for layer, channels in (('score', 3), ('score_geo', 2)):
        saved = vis.read_label(tmp_path / 'seg-4000' / layer / 'c.png')
        np.testing.assert_array_equal(saved, tiny[1]['data'][2, 0, :channels].argmax(0))


def test_one_head_saves_into_the_iterations_directory(tiny, tmp_path):
    net = caffe.Net(tiny[0], caffe.TEST)
    set_weights(net)
    results = score.do_seg_tests(net, 10, str(tmp_path / 'it{}'), IDS, heads=[('score', 'label')])
    assert sorted(p.name for p in (tmp_path / 'it10').iterdir()) == ['a.png', 'b.png', 'c.png']
    assert results['score']['loss'] == pytest.approx(expected(tiny[1], 3, 'label')[1], rel=1e-5)


# --- the original score.py's signatures ---------------------------------------------------

def independent_hist(arrays, channels, gt):
    """fast_hist summed over the images, the predictions taken from the inputs directly."""
    return sum(score.fast_hist(label, x[:channels].argmax(0), channels)
               for x, label in zip(arrays['data'][:, 0], arrays[gt][:, 0, 0]))


def test_the_original_signatures():
    """Parameter names and defaults of the original score.py, our options keyword-only after them."""
    import inspect

    def params(f):
        return [(p.name, p.default, p.kind.name) for p in inspect.signature(f).parameters.values()]
    pos, kw, empty = 'POSITIONAL_OR_KEYWORD', 'KEYWORD_ONLY', inspect.Parameter.empty
    assert params(score.fast_hist) == [('a', empty, pos), ('b', empty, pos), ('n', empty, pos)]
    assert params(score.compute_hist) == [
        ('net', empty, pos), ('save_dir', empty, pos), ('dataset', empty, pos), ('layer', 'score', pos),
        ('gt', 'label', pos), ('loss_layer', 'loss', pos)]
    assert params(score.seg_tests)[:5] == [
        ('solver', empty, pos), ('save_format', empty, pos), ('dataset', empty, pos),
        ('layer', 'score', pos), ('gt', 'label', pos)]
    assert params(score.do_seg_tests) == [
        ('net', empty, pos), ('iter', empty, pos), ('save_format', empty, pos), ('dataset', empty, pos),
        ('layer', 'score', pos), ('gt', 'label', pos), ('heads', None, kw), ('exclude', None, kw),
        ('per_class', False, kw), ('names', None, kw)]


def weighted_net(tiny):
    net = caffe.Net(tiny[0], caffe.TEST)
    set_weights(net)
    return net


def test_compute_hist_called_as_the_original(tiny, tmp_path):
    hist, loss = score.compute_hist(weighted_net(tiny), False, IDS)  # score vs label, loss 'loss'
    np.testing.assert_array_equal(hist, independent_hist(tiny[1], 3, 'label'))
    assert loss == pytest.approx(expected(tiny[1], 3, 'label')[1], rel=1e-5)
    assert not any(tmp_path.glob('*.png'))
    # positionally, the second head; the ids as np.loadtxt reads a split file
    (tmp_path / 'split.txt').write_text('\n'.join(IDS) + '\n')
    hist, loss = score.compute_hist(weighted_net(tiny), str(tmp_path / 'geo'),
                                    np.loadtxt(tmp_path / 'split.txt', dtype=str), 'score_geo', 'geo', 'loss_geo')
    np.testing.assert_array_equal(hist, independent_hist(tiny[1], 2, 'geo'))
    assert loss == pytest.approx(expected(tiny[1], 2, 'geo')[1], rel=1e-5)
    assert sorted(p.name for p in (tmp_path / 'geo').iterdir()) == ['a.png', 'b.png', 'c.png']
    hist, loss = score.compute_hist(weighted_net(tiny), None, IDS[:2], loss_layer=None)
    assert loss is None and hist.sum() == 2 * 20 - 3
    with pytest.raises(ValueError, match="no blob 'loss_sem'"):
        score.compute_hist(weighted_net(tiny), None, IDS, loss_layer='loss_sem')


def test_a_one_line_split_loaded_by_loadtxt_scores_its_one_image(tiny, tmp_path):
    net = weighted_net(tiny)
    (tmp_path / 'one.txt').write_text('a\n')
    ids = np.loadtxt(tmp_path / 'one.txt', dtype=str)
    assert ids.shape == ()  # what the original script would hand over
    hist, _ = score.compute_hist(net, None, ids)
    first = score.fast_hist(tiny[1]['label'][0, 0, 0], tiny[1]['data'][0, 0].argmax(0), 3)
    np.testing.assert_array_equal(hist, first)


def test_seg_tests_called_as_the_original_prints_its_scores(tiny, tmp_path, capsys):
    train, test = caffe.Net(tiny[0], caffe.TRAIN), caffe.Net(tiny[0], caffe.TEST)
    set_weights(train)
    solver = types.SimpleNamespace(net=train, test_nets=[test], iter=4000)
    hist = score.seg_tests(solver, False, IDS, layer='score')
    want = independent_hist(tiny[1], 3, 'label')
    np.testing.assert_array_equal(hist, want)
    out = capsys.readouterr().out
    m = score.metrics(want)
    loss = expected(tiny[1], 3, 'label')[1]
    line = re.search(r'iteration 4000: score vs label on 3 images\n    loss (\S+)  overall accuracy (\S+)  '
                     r'mean accuracy (\S+)  mean IU (\S+)  fwavacc (\S+)\n', out)
    assert line, out
    got = list(map(float, line.groups()))
    assert got[0] == pytest.approx(loss, rel=1e-5)
    assert got[1:] == pytest.approx([m['overall_acc'], m['mean_acc'], m['mean_iu'], m['fwavacc']], abs=5e-5)
    # positional layer and gt, a save_format formatted with the iteration
    test = caffe.Net(tiny[0], caffe.TEST)
    solver.test_nets = [test]
    hist = score.seg_tests(solver, str(tmp_path / 'seg-{}'), IDS, 'score_geo', 'geo')
    np.testing.assert_array_equal(hist, independent_hist(tiny[1], 2, 'geo'))
    assert sorted(p.name for p in (tmp_path / 'seg-4000').iterdir()) == ['a.png', 'b.png', 'c.png']
    assert 'iteration 4000: score_geo vs geo on 3 images' in capsys.readouterr().out


def test_do_seg_tests_called_as_the_original_returns_the_histogram(tiny):
    hist = score.do_seg_tests(weighted_net(tiny), 7, None, IDS, 'score_geo', gt='geo')
    np.testing.assert_array_equal(hist, independent_hist(tiny[1], 2, 'geo'))


def test_our_old_positional_heads_are_refused_with_a_pointer_to_the_keyword(tiny):
    train, test = caffe.Net(tiny[0], caffe.TRAIN), caffe.Net(tiny[0], caffe.TEST)
    solver = types.SimpleNamespace(net=train, test_nets=[test], iter=1)
    with pytest.raises(TypeError, match=r'heads=\[\(layer, gt\), \.\.\.\]'):
        score.seg_tests(solver, None, IDS, [('score', 'label')], None)
    with pytest.raises(TypeError):
        score.do_seg_tests(test, 1, None, IDS, 'score', 'label', [('score', 'label')])
    with pytest.raises(ValueError, match='heads is empty'):
        score.do_seg_tests(test, 1, None, IDS, heads=[])


def test_progress_counts_in_place_on_a_terminal_and_by_tenths_in_a_log():
    class Stream:
        def __init__(self, tty):
            self.tty, self.text = tty, ''

        def isatty(self):
            return self.tty

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    log, tty = Stream(False), Stream(True)
    for i in range(1, 101):
        score.progress(i, 100, stream=log)
        score.progress(i, 100, stream=tty)
    assert log.text.splitlines() == ['scoring %d/100' % i for i in range(10, 101, 10)]
    assert tty.text.count('\r') == 100 and tty.text.count('\n') == 1
    assert tty.text.endswith('\rscoring [%s] 100/100\033[K\n' % ('#' * 20))
    assert '\rscoring [%s%s] 55/100\033[K\r' % ('#' * 11, '.' * 9) in tty.text


def test_report_lists_each_class_and_checks_the_names():
    result = dict(score.metrics(HIST), hist=HIST, loss=None)
    text = score.report(result, 100, 'score', 'label', 2, per_class=True)
    assert 'loss' not in text and len(text.splitlines()) == 3 + len(HIST)
    assert '\n    0      0.7273  0.8000          10\n' in text
    with pytest.raises(ValueError, match='2 class names for 5 classes'):
        score.report(result, 100, 'score', 'label', 2, per_class=True, names=['a', 'b'])


# --- the fcn score command ------------------------------------------------------------------

SCORE_NET = '''
layer { name: "data" type: "Python" top: "data" top: "label"
  python_param { module: "layers" layer: "VOCSegDataLayer" param_str: "%s" } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
  convolution_param { num_output: 21 kernel_size: 1 } }
layer { name: "score2" type: "Convolution" bottom: "data" top: "score2"
  convolution_param { num_output: 21 kernel_size: 1 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
  loss_param { ignore_label: 255 normalize: false } }
'''


@pytest.fixture
def voc_net(tmp_path):
    """A 1x1-conv net over synthetic VOC val with integer weights and inputs (mean 0), so its
    predictions are exact; returns (prototxt, weights, the histograms of score and score2)."""
    from fcn import datasets, synthetic
    voc = synthetic.make_voc(str(tmp_path / 'data'), n=8)
    path = tmp_path / 'net.prototxt'
    path.write_text(SCORE_NET % repr({'voc_dir': voc, 'split': 'val', 'mean': (0, 0, 0)}).replace("'", "\\'"))
    net = caffe.Net(str(path), caffe.TEST)
    rng = np.random.RandomState(0)
    hists = []
    reader = datasets.VOC(voc, 'val', mean=(0, 0, 0))
    for layer in ('score', 'score2'):
        w, b = rng.randint(-3, 4, (21, 3)), rng.randint(-200, 200, 21)
        net.params[layer][0].data[...] = w.reshape(21, 3, 1, 1)
        net.params[layer][1].data[...] = b
        hist = 0
        for idx in reader.ids:
            x, label = reader.load(idx, ('data', 'label'))
            pred = (np.einsum('oc,chw->ohw', w, x.astype(np.int64)) + b[:, None, None]).argmax(0)
            hist = hist + score.fast_hist(label, pred, 21)
        hists.append(hist)
    weights = str(tmp_path / 'w.caffemodel')
    net.save(weights)
    return str(path), weights, hists


NAMES = ['background', 'disc', 'square', 'triangle', 'cross'] + ['class%d' % c for c in range(5, 21)]


def recorded_confusion(monkeypatch):
    """charts.confusion, recording each call's arguments before drawing."""
    from fcn import charts
    calls, draw = [], charts.confusion

    def confusion(path, hist, names=None, title=None):
        calls.append((path, np.array(hist), names, title))
        draw(path, hist, names, title)
    monkeypatch.setattr(charts, 'confusion', confusion)
    return calls


def table(out):
    """{class name: (IU, acc, pixels)} of a printed per-class table."""
    rows = re.findall(r'^    (\S+)\s+(nan|[\d.]+)\s+(nan|[\d.]+)\s+(\d+)$', out, re.M)
    return {name: (float(iu), float(acc), int(pixels)) for name, iu, acc, pixels in rows}


def test_score_command_prints_the_per_class_table_and_draws_the_confusion_matrix(voc_net, tmp_path,
                                                                                 monkeypatch, capsys):
    from PIL import Image
    path, weights, (hist, _) = voc_net
    (tmp_path / 'names.txt').write_text('\n'.join(NAMES) + '\n\n')  # a trailing blank line is skipped
    calls = recorded_confusion(monkeypatch)
    png = tmp_path / 'charts' / 'confusion.png'
    score.main([path, weights, '--per-class', '--classes', str(tmp_path / 'names.txt'),
                '--confusion', str(png)])
    out = capsys.readouterr().out
    m = score.metrics(hist)
    rows = table(out)
    assert list(rows) == NAMES
    for c, name in enumerate(NAMES):
        iu, acc, pixels = rows[name]
        assert pixels == hist[c].sum()
        for got, want in ((iu, m['iu'][c]), (acc, m['acc'][c])):
            assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want, abs=5e-5)
    assert 'mean IU %.4f' % m['mean_iu'] in out
    assert [(p, n) for p, _, n, _ in calls] == [(str(png), NAMES)]
    np.testing.assert_array_equal(calls[0][1], hist)
    assert 'w.caffemodel: score' in calls[0][3]
    assert 'confusion matrix: %s' % png in out
    with Image.open(png) as im:
        assert im.format == 'PNG' and min(im.size) > 100


def test_score_command_without_names_uses_indices_and_draws_one_chart_per_head(voc_net, tmp_path,
                                                                               monkeypatch, capsys):
    path, weights, hists = voc_net
    calls = recorded_confusion(monkeypatch)
    score.main([path, weights, '--heads', 'score:label', 'score2:label', '--per-class',
                '--confusion', str(tmp_path / 'c.png')])
    out = capsys.readouterr().out
    assert out.count('    class  ') == 2  # two tables, the classes by index
    assert [int(name) for name in table(out)] == list(range(21))
    assert [(p, n) for p, _, n, _ in calls] == [(str(tmp_path / 'c-score.png'), None),
                                                 (str(tmp_path / 'c-score2.png'), None)]
    for (_, hist, _, _), want in zip(calls, hists):
        np.testing.assert_array_equal(hist, want)
    assert (tmp_path / 'c-score.png').is_file() and (tmp_path / 'c-score2.png').is_file()


@pytest.mark.parametrize('names, says', [
    (NAMES[:5], r'names.txt has 5 names, score has 21 classes'),
    (None, r'cannot read .*missing.txt'),
])
def test_score_command_checks_the_class_names_before_scoring(voc_net, tmp_path, capsys, names, says):
    path, weights, _ = voc_net
    names_file = tmp_path / ('names.txt' if names else 'missing.txt')
    if names:
        names_file.write_text('\n'.join(names))
    with pytest.raises(SystemExit) as e:
        score.main([path, weights, '--classes', str(names_file), '--confusion', str(tmp_path / 'c.png')])
    assert e.value.code == 2
    out, err = capsys.readouterr()
    assert re.search('--classes: .*' + says, err) and 'scoring' not in err  # refused before scoring
    assert not (tmp_path / 'c.png').exists()
    with pytest.raises(SystemExit):
        score.main([path, weights, '--heads', 'score:label', 'score2:label',
                    '--classes', str(names_file), str(names_file), str(names_file)])
    assert 'one file for every head or one per head (2 heads), got 3' in capsys.readouterr().err
