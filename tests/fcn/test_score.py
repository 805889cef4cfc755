"""score.py: confusion histograms, metrics by hand, and scoring a tiny net with two heads."""
import json
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
    hist, loss = score.compute_hist(net, IDS, 'score', 'label', save_dir=str(tmp_path / 'pred'),
                                    loss='loss')
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
    results = score.do_seg_tests(net, 10, str(tmp_path / 'it{}'), IDS)
    assert sorted(p.name for p in (tmp_path / 'it10').iterdir()) == ['a.png', 'b.png', 'c.png']
    assert results['score']['loss'] == pytest.approx(expected(tiny[1], 3, 'label')[1], rel=1e-5)


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
