"""The data layers on synthetic datasets in the real layouts: preprocessing, labels, order, errors, prefetch."""
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import scipy.io
from PIL import Image

import fcn
from fcn import datasets
from fcn import layers
from fcn import synthetic
import torchcaffe as caffe
from torchcaffe.engine.blob import Blob
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2

SIZE = (24, 32)  # not square, so a transposed H and W shows
N = 10
SUB = datasets.SIFTFlow.subdir


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    """A data root holding all five synthetic datasets (read-only for tests)."""
    root = tmp_path_factory.mktemp('data')
    for make in synthetic.MAKERS.values():
        make(str(root), n=N, size=SIZE, seed=3)
    return root


def params(root, name, **kw):
    """param_str dict of layer ``name`` on ``root``, with absolute directories."""
    base = {'VOCSegDataLayer': {'voc_dir': 'pascal/VOC2011', 'split': 'val'},
            'SBDDSegDataLayer': {'sbdd_dir': 'sbdd/dataset', 'split': 'train'},
            'NYUDSegDataLayer': {'nyud_dir': 'nyud', 'split': 'test', 'tops': ['color', 'depth', 'hha', 'label']},
            'SIFTFlowSegDataLayer': {'siftflow_dir': 'sift-flow', 'split': 'test'},
            'PASCALContextSegDataLayer': {'context_dir': 'pascal-context', 'voc_dir': 'pascal/VOC2010',
                                          'split': 'val'}}[name]
    out = {k: str(root / v) if k.endswith('_dir') else v for k, v in base.items()}
    out.update(kw)
    return out


def make(name, p, ntops=None):
    """A set-up layer and its tops, reshaped once as Net construction does."""
    layer = getattr(layers, name)()
    layer.param_str = repr(p)
    top = [Blob() for _ in range(ntops or len(p.get('tops', layer.dataset.tops)))]
    layer.setup([], top)
    layer.reshape([], top)
    return layer, top


def step(layer, top):
    """One forward as a Net runs it: reshape, then forward; returns copies of the tops."""
    layer.reshape([], top)
    layer.forward([], top)
    return [b.data.copy() for b in top]


def steps(layer, top, n):
    return [step(layer, top) for _ in range(n)]


def same(a, b):
    return len(a) == len(b) and all(len(x) == len(y) and all(np.array_equal(u, v) for u, v in zip(x, y))
                                    for x, y in zip(a, b))


def bgr_input(path, mean):
    rgb = np.asarray(Image.open(path).convert('RGB'), np.float32)
    return (rgb[:, :, ::-1] - np.float32(mean)).transpose(2, 0, 1)


LAYERS = ['VOCSegDataLayer', 'SBDDSegDataLayer', 'NYUDSegDataLayer', 'SIFTFlowSegDataLayer',
          'PASCALContextSegDataLayer']
CHANNELS = {'data': 3, 'color': 3, 'hha': 3, 'depth': 1, 'label': 1, 'sem': 1, 'geo': 1}


# -- preprocessing and labels ------------------------------------------------
@pytest.mark.parametrize('name', LAYERS)
def test_top_shapes(root, name):
    p = params(root, name)
    layer, top = make(name, p)
    out = step(layer, top)
    names = p.get('tops', layer.dataset.tops)
    assert [o.shape for o in out] == [(1, CHANNELS[t]) + SIZE for t in names]
    assert [b.shape for b in top] == [o.shape for o in out]


def test_voc_input_is_bgr_minus_mean_and_label_keeps_void(root):
    layer, top = make('VOCSegDataLayer', params(root, 'VOCSegDataLayer'))
    data, label = step(layer, top)
    voc = root / 'pascal' / 'VOC2011'
    first = datasets.read_ids(voc / 'ImageSets' / 'Segmentation' / 'val.txt')[0]
    expected = bgr_input(voc / 'JPEGImages' / (first + '.jpg'), datasets.VOC_MEAN)
    np.testing.assert_allclose(data[0], expected, atol=1e-4)
    indices = np.asarray(Image.open(voc / 'SegmentationClass' / (first + '.png')))
    np.testing.assert_array_equal(label[0, 0], indices)
    assert 255 in label and set(np.unique(label)) <= set(range(21)) | {255}


def test_known_colour_comes_out_as_b_g_r_minus_mean(tmp_path):
    voc = synthetic.make_voc(str(tmp_path), n=2, size=SIZE)
    first = datasets.read_ids(os.path.join(voc, 'ImageSets', 'Segmentation', 'val.txt'))[0]
    Image.new('RGB', SIZE[::-1], (200, 40, 10)).save(os.path.join(voc, 'JPEGImages', first + '.jpg'), quality=100)
    layer, top = make('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val', 'mean': (1.5, 2.5, 3.5)})
    data = step(layer, top)[0]
    np.testing.assert_allclose(data[0, :, 5, 7], (10 - 1.5, 40 - 2.5, 200 - 3.5), atol=1.01)


def test_sbd_label_is_the_gtcls_segmentation(root):
    layer, top = make('SBDDSegDataLayer', params(root, 'SBDDSegDataLayer', randomize=False))
    data, label = step(layer, top)
    sbd = root / 'sbdd' / 'dataset'
    first = datasets.read_ids(sbd / 'train.txt')[0]
    segmentation = scipy.io.loadmat(sbd / 'cls' / (first + '.mat'))['GTcls'][0]['Segmentation'][0]
    np.testing.assert_array_equal(label[0, 0], segmentation)
    np.testing.assert_allclose(data[0], bgr_input(sbd / 'img' / (first + '.jpg'), datasets.VOC_MEAN), atol=1e-4)


def test_nyud_preprocessing_and_label_shift(root):
    layer, top = make('NYUDSegDataLayer', params(root, 'NYUDSegDataLayer'))
    color, depth, hha, label = step(layer, top)
    nyud = root / 'nyud'
    name = 'img_%s' % datasets.read_ids(nyud / 'test.txt')[0]
    np.testing.assert_allclose(color[0], bgr_input(nyud / 'data' / 'images' / (name + '.png'), datasets.NYUD_MEAN),
                               atol=1e-4)
    mm = np.asarray(Image.open(nyud / 'data' / 'depth' / (name + '.png')), np.float64)
    assert mm.max() > 255  # really 16-bit
    np.testing.assert_allclose(depth[0, 0], np.log(mm) - 7.844, atol=1e-4)
    stored = np.asarray(Image.open(nyud / 'data' / 'hha' / (name + '.png')), np.float32)
    np.testing.assert_allclose(hha[0], (stored - np.float32(datasets.NYUD_HHA_MEAN)).transpose(2, 0, 1), atol=1e-4)
    raw = scipy.io.loadmat(nyud / 'segmentation' / (name + '.mat'))['segmentation']
    assert (raw == 0).any() and (raw > 1).any()
    np.testing.assert_array_equal(label[0, 0][raw == 0], 255)
    np.testing.assert_array_equal(label[0, 0][raw > 0], raw[raw > 0] - 1)


def test_nyud_tops_subset_in_the_order_given(root):
    p = params(root, 'NYUDSegDataLayer', tops=['hha', 'color'])
    hha, color = step(*make('NYUDSegDataLayer', p))
    full = step(*make('NYUDSegDataLayer', params(root, 'NYUDSegDataLayer')))
    np.testing.assert_array_equal(hha, full[2])
    np.testing.assert_array_equal(color, full[0])


def test_siftflow_void_and_shift(root):
    layer, top = make('SIFTFlowSegDataLayer', params(root, 'SIFTFlowSegDataLayer'))
    data, sem, geo = step(layer, top)
    sf = root / 'sift-flow'
    first = datasets.read_ids(sf / 'test.txt')[0]
    raw_sem = scipy.io.loadmat(sf / 'SemanticLabels' / SUB / (first + '.mat'))['S']
    raw_geo = scipy.io.loadmat(sf / 'GeoLabels' / SUB / (first + '.mat'))['S']
    assert (raw_sem == 0).any() and (raw_geo == -1).any()
    np.testing.assert_array_equal(sem[0, 0], np.where(raw_sem == 0, 255, raw_sem - 1))
    np.testing.assert_array_equal(geo[0, 0], np.where(raw_geo <= 0, 255, raw_geo - 1))
    np.testing.assert_allclose(data[0], bgr_input(sf / 'Images' / SUB / (first + '.jpg'), datasets.SIFTFLOW_MEAN),
                               atol=1e-4)


def test_siftflow_geometric_zero_is_void(tmp_path):
    sf = synthetic.make_siftflow(str(tmp_path), n=2, size=SIZE)
    first = datasets.read_ids(os.path.join(sf, 'test.txt'))[0]
    path = os.path.join(sf, 'GeoLabels', SUB, first + '.mat')
    geo = scipy.io.loadmat(path)['S']
    geo[0, :] = 0
    scipy.io.savemat(path, {'S': geo})
    out = step(*make('SIFTFlowSegDataLayer', {'siftflow_dir': sf, 'split': 'test'}))[2]
    assert (out[0, 0, 0] == 255).all()


def test_context_maps_the_full_labels_to_59_classes(root):
    layer, top = make('PASCALContextSegDataLayer', params(root, 'PASCALContextSegDataLayer'))
    context = root / 'pascal-context'
    index = {name: k for k, name in datasets.read_label_list(context / 'labels.txt')}
    # 59-task classes of the drawn styles, by their labels.txt names; 'unknown' and 0 are background.
    expected = {index['aeroplane']: 1, index['table']: 11, index['sky']: 50, index['cloth']: 28,
                index['unknown']: 0, 0: 0}
    for k, id_ in enumerate(datasets.read_ids(root / 'pascal' / 'VOC2010' / 'ImageSets' / 'Main' / 'val.txt')):
        label = step(layer, top)[1][0, 0]
        raw = scipy.io.loadmat(context / 'trainval' / (id_ + '.mat'))['LabelMap']
        assert set(np.unique(raw)) <= set(expected)
        np.testing.assert_array_equal(label, np.vectorize(expected.get)(raw))
    assert [index[n] for n in ('aeroplane', 'table', 'sky', 'cloth')] != [1, 11, 50, 28]  # really a remap


# -- order -------------------------------------------------------------------
def test_eval_split_runs_in_file_order_and_wraps(root):
    p = params(root, 'VOCSegDataLayer')
    layer, top = make('VOCSegDataLayer', p)
    ids = layer.reader.ids
    for i, (data, _) in enumerate(steps(layer, top, 2 * len(ids) + 1)):
        expected = layer.reader.load(ids[i % len(ids)], ['data'])[0]
        np.testing.assert_array_equal(data[0], expected)


def test_train_order_is_seeded(root):
    def run(**kw):
        return steps(*make('SBDDSegDataLayer', params(root, 'SBDDSegDataLayer', **kw)), 8)

    first = run(seed=1337)
    assert same(first, run(seed=1337))
    assert not same(first, run(seed=1338))
    in_order = run(seed=1337, randomize=False)
    reader = make('SBDDSegDataLayer', params(root, 'SBDDSegDataLayer'))[0].reader
    for i, (data, _) in enumerate(in_order):
        np.testing.assert_array_equal(data[0], reader.load(reader.ids[i % len(reader.ids)], ['data'])[0])
    assert not same(first, in_order)


def test_randomize_overrides_for_eval_splits(root):
    shuffled = steps(*make('VOCSegDataLayer', params(root, 'VOCSegDataLayer', randomize=True, seed=5)), 6)
    in_order = steps(*make('VOCSegDataLayer', params(root, 'VOCSegDataLayer')), 6)
    assert not same(shuffled, in_order)


def test_state_restores_the_position(root):
    p = params(root, 'SBDDSegDataLayer', seed=7)
    layer, top = make('SBDDSegDataLayer', p)
    run = steps(layer, top, 5)
    state = layer.state
    assert state == {'seed': 7, 'position': 5}
    later = steps(layer, top, 4)
    resumed, rtop = make('SBDDSegDataLayer', p)
    resumed.restore(state)
    assert same(steps(resumed, rtop, 4), later)
    layer.restore({'position': 0})
    assert same(steps(layer, top, 5), run)


def test_unseeded_runs_differ_but_resume(root):
    p = params(root, 'SBDDSegDataLayer')
    a, atop = make('SBDDSegDataLayer', p)
    b, btop = make('SBDDSegDataLayer', p)
    assert isinstance(a.state['seed'], int) and a.state['seed'] != b.state['seed']
    steps(a, atop, 3)
    b.restore(a.state)
    assert same(steps(a, atop, 4), steps(b, btop, 4))


# -- prefetch ----------------------------------------------------------------
@pytest.mark.parametrize('name, kw', [('SBDDSegDataLayer', {'seed': 11}), ('VOCSegDataLayer', {}),
                                      ('NYUDSegDataLayer', {'split': 'trainval', 'seed': 2})])
def test_prefetch_gives_the_same_sequence(root, name, kw):
    plain = steps(*make(name, params(root, name, **kw)), 12)
    layer, top = make(name, params(root, name, prefetch=3, **kw))
    assert same(steps(layer, top, 12), plain)
    layer.restore({'position': 4})
    assert same(steps(layer, top, 3), plain[4:7])
    layer.prefetcher.close()


def test_prefetch_thread_stops_with_its_layer(root):
    def alive():
        return [t for t in threading.enumerate() if t.name == 'fcn-prefetch']

    before = set(alive())  # an earlier test's thread may still be winding down
    layer, top = make('SBDDSegDataLayer', params(root, 'SBDDSegDataLayer', prefetch=2))
    steps(layer, top, 2)
    ours = set(alive()) - before
    assert len(ours) == 1
    del layer, top
    gc.collect()
    deadline = time.time() + 5
    while any(t.is_alive() for t in ours) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(t.is_alive() for t in ours)


def test_prefetch_does_not_hold_up_interpreter_exit(root):
    script = textwrap.dedent('''
        from fcn import layers
        from torchcaffe.engine.blob import Blob
        layer = layers.SBDDSegDataLayer()
        layer.param_str = %r
        top = [Blob(), Blob()]
        layer.setup([], top)
        layer.reshape([], top)
        layer.forward([], top)
        print('done')
    ''') % repr(params(root, 'SBDDSegDataLayer', prefetch=4))
    repo = fcn.REPO
    out = subprocess.run([sys.executable, '-c', script], cwd=repo, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == 'done', out.stderr


def test_prefetch_raises_a_loading_error_at_its_position(tmp_path):
    voc = synthetic.make_voc(str(tmp_path), n=8, size=SIZE)
    ids = datasets.read_ids(os.path.join(voc, 'ImageSets', 'Segmentation', 'val.txt'))
    bad = os.path.join(voc, 'JPEGImages', ids[2] + '.jpg')
    os.remove(bad)
    layer, top = make('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val', 'prefetch': 2})
    steps(layer, top, 2)
    with pytest.raises(datasets.DataError, match='missing image .*' + ids[2]):
        step(layer, top)


# -- param_str ---------------------------------------------------------------
def test_param_str_code_is_rejected_not_run(root, tmp_path):
    marker = tmp_path / 'ran'
    layer = layers.VOCSegDataLayer()
    layer.param_str = "__import__('os').system('touch %s')" % marker
    with pytest.raises(ValueError, match='VOCSegDataLayer param_str must be a Python dict literal'):
        layer.setup([], [Blob(), Blob()])
    assert not marker.exists()


@pytest.mark.parametrize('text, message', [
    ("dict(voc_dir='x', split='val')", 'must be a Python dict literal'),
    ("['voc_dir', 'split']", 'must be a Python dict literal'),
    ('', 'must be a Python dict literal'),
    ("{'voc_dir': 'x', 'split': 'val', 'batch_size': 2}", "unknown keys 'batch_size'"),
    ("{'split': 'val'}", 'lacks voc_dir'),
    ("{'voc_dir': '%(voc)s', 'split': 'val', 'seed': 1.5}", 'seed must be a non-negative integer'),
    ("{'voc_dir': '%(voc)s', 'split': 'val', 'prefetch': -1}", 'prefetch must be an integer from 0 to 64'),
    ("{'voc_dir': '%(voc)s', 'split': 'val', 'randomize': 'no'}", 'randomize must be True or False'),
    ("{'voc_dir': '%(voc)s', 'split': 'val', 'tops': ['data', 'depth']}", 'tops must be a non-empty list from data'),
    ("{'voc_dir': '%(voc)s', 'split': 'val', 'mean': (1, 2)}", r'mean of data must be 3 finite number\(s\)'),
])
def test_param_str_errors(root, text, message):
    layer = layers.VOCSegDataLayer()
    layer.param_str = text % {'voc': root / 'pascal' / 'VOC2011'} if '%(voc)s' in text else text
    with pytest.raises(ValueError, match=message):
        layer.setup([], [Blob(), Blob()])


def test_top_and_bottom_counts(root):
    p = params(root, 'VOCSegDataLayer')
    with pytest.raises(ValueError, match='feeds 2 tops \\(data, label\\) but the net gives it 3'):
        make('VOCSegDataLayer', p, ntops=3)
    layer = layers.VOCSegDataLayer()
    layer.param_str = repr(p)
    with pytest.raises(ValueError, match='takes no bottoms'):
        layer.setup([Blob()], [Blob(), Blob()])


def test_relative_dirs_start_at_the_data_root(root, monkeypatch):
    monkeypatch.setenv('FCN_DATA_ROOT', str(root))
    layer, _ = make('VOCSegDataLayer', {'voc_dir': 'pascal/VOC2011', 'split': 'val'})
    assert layer.reader.split_file == str(root / 'pascal' / 'VOC2011' / 'ImageSets' / 'Segmentation' / 'val.txt')
    monkeypatch.delenv('FCN_DATA_ROOT')
    repo = fcn.REPO
    assert datasets.resolve('nyud') == os.path.join(repo, 'data', 'nyud')
    assert datasets.resolve(str(root)) == str(root)


# -- errors ------------------------------------------------------------------
def voc_case(tmp_path):
    voc = synthetic.make_voc(str(tmp_path), n=4, size=SIZE)
    first = datasets.read_ids(os.path.join(voc, 'ImageSets', 'Segmentation', 'val.txt'))[0]
    return voc, os.path.join(voc, 'JPEGImages', first + '.jpg'), os.path.join(voc, 'SegmentationClass', first + '.png')


def expect_error(name, p, *fragments):
    with pytest.raises(datasets.DataError) as info:
        make(name, p)
    for fragment in fragments:
        assert fragment in str(info.value)
    assert 'README.md' in str(info.value)
    return str(info.value)


def test_missing_dataset_directory(tmp_path):
    expect_error('VOCSegDataLayer', {'voc_dir': str(tmp_path / 'nope'), 'split': 'val'},
                 'dataset directory %s not found' % (tmp_path / 'nope'), 'data/pascal/README.md')


def test_missing_and_empty_split_file(tmp_path):
    voc, _, _ = voc_case(tmp_path)
    message = expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'segvalid11'}, 'segvalid11.txt not found')
    assert 'seg11valid' in message  # lists the splits that exist
    open(os.path.join(voc, 'ImageSets', 'Segmentation', 'empty.txt'), 'w').write('\n\n')
    expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'empty'}, 'empty.txt is empty')


@pytest.mark.parametrize('which', ['image', 'label'])
def test_missing_image_or_label(tmp_path, which):
    voc, jpg, png = voc_case(tmp_path)
    path = jpg if which == 'image' else png
    os.remove(path)
    expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val'}, 'missing %s %s' % (which, path))


def test_size_mismatch(tmp_path):
    voc, jpg, png = voc_case(tmp_path)
    datasets.save_label_png(np.zeros((SIZE[0], SIZE[1] + 1), np.uint8), png)
    expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val'}, 'size mismatch', jpg, png)


@pytest.mark.parametrize('damage', ['garbage', 'truncated'])
@pytest.mark.parametrize('which', ['jpg', 'png'])
def test_corrupt_image_files(tmp_path, damage, which):
    voc, jpg, png = voc_case(tmp_path)
    path = jpg if which == 'jpg' else png
    data = open(path, 'rb').read()
    open(path, 'wb').write(b'not an image at all' if damage == 'garbage' else data[:len(data) // 2])
    expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val'}, 'cannot read', path, '(corrupt?)')


def test_rgb_png_is_not_a_label(tmp_path):
    voc, _, png = voc_case(tmp_path)
    Image.new('RGB', SIZE[::-1]).save(png)
    expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val'}, png, 'is a RGB image, expected P or L')


def test_voc_label_value_out_of_range(tmp_path):
    voc, _, png = voc_case(tmp_path)
    label = np.asarray(Image.open(png)).copy()
    label[3, 4] = 30
    datasets.save_label_png(label, png)
    expect_error('VOCSegDataLayer', {'voc_dir': voc, 'split': 'val'}, png, 'has value 30')


def sbd_case(tmp_path):
    sbd = synthetic.make_sbd(str(tmp_path), n=4, size=SIZE)
    first = datasets.read_ids(os.path.join(sbd, 'val.txt'))[0]
    return sbd, os.path.join(sbd, 'cls', first + '.mat')


def test_sbd_corrupt_or_malformed_mat(tmp_path):
    sbd, mat = sbd_case(tmp_path)
    p = {'sbdd_dir': sbd, 'split': 'val'}
    scipy.io.savemat(mat, {'GTcls': {'Segmentation': np.full(SIZE, 21, np.uint8)}})
    expect_error('SBDDSegDataLayer', p, mat, 'has value 21')
    scipy.io.savemat(mat, {'other': np.zeros(3)})
    expect_error('SBDDSegDataLayer', p, mat, 'has no variable GTcls')
    scipy.io.savemat(mat, {'GTcls': {'Boundaries': np.zeros(3)}})
    expect_error('SBDDSegDataLayer', p, mat, 'GTcls has no Segmentation field')
    open(mat, 'wb').write(b'MATLAB 5.0 MAT-file, garbage')
    expect_error('SBDDSegDataLayer', p, mat, 'cannot read label')


def nyud_case(tmp_path):
    nyud = synthetic.make_nyud(str(tmp_path), n=3, size=SIZE)
    first = datasets.read_ids(os.path.join(nyud, 'test.txt'))[0]
    return nyud, 'img_' + first


def test_nyud_label_out_of_range_and_zero_depth(tmp_path):
    nyud, name = nyud_case(tmp_path)
    p = {'nyud_dir': nyud, 'split': 'test', 'tops': ['depth', 'label']}
    mat = os.path.join(nyud, 'segmentation', name + '.mat')
    scipy.io.savemat(mat, {'segmentation': np.full(SIZE, 41, np.uint16)})
    expect_error('NYUDSegDataLayer', p, mat, 'has value 41', 'classes 1-40')
    depth = os.path.join(nyud, 'data', 'depth', name + '.png')
    Image.fromarray(np.zeros(SIZE, np.uint16)).save(depth)
    expect_error('NYUDSegDataLayer', p, depth, 'missing (zero) values')


def test_siftflow_label_out_of_range(tmp_path):
    sf = synthetic.make_siftflow(str(tmp_path), n=2, size=SIZE)
    first = datasets.read_ids(os.path.join(sf, 'test.txt'))[0]
    for kind, value, text in (('SemanticLabels', 34, 'classes 1-33'), ('GeoLabels', -2, 'classes 1-3')):
        mat = os.path.join(sf, kind, SUB, first + '.mat')
        good = scipy.io.loadmat(mat)['S']
        scipy.io.savemat(mat, {'S': np.full(SIZE, value, np.int16)})
        expect_error('SIFTFlowSegDataLayer', {'siftflow_dir': sf, 'split': 'test'}, mat, 'value %d' % value, text)
        scipy.io.savemat(mat, {'S': good})


def test_context_label_errors(tmp_path):
    context = synthetic.make_context(str(tmp_path), n=2, size=SIZE)
    voc = os.path.join(str(tmp_path), 'pascal', 'VOC2010')
    p = {'context_dir': context, 'voc_dir': voc, 'split': 'val'}
    first = datasets.read_ids(os.path.join(voc, 'ImageSets', 'Main', 'val.txt'))[0]
    mat = os.path.join(context, 'trainval', first + '.mat')
    scipy.io.savemat(mat, {'LabelMap': np.full(SIZE, 999, np.uint16)})
    expect_error('PASCALContextSegDataLayer', p, mat, 'value 999', 'not an index of labels.txt')
    labels = os.path.join(context, 'labels.txt')
    lines = [line for line in open(labels) if not line.endswith(': sky\n')]
    open(labels, 'w').writelines(lines)
    expect_error('PASCALContextSegDataLayer', p, "59-class label 'sky'", labels)
    os.remove(labels)
    expect_error('PASCALContextSegDataLayer', p, 'missing label list %s' % labels)


# -- in a Net ----------------------------------------------------------------
def net_text(name, p):
    tops = p.get('tops', getattr(layers, name).dataset.tops)
    return 'layer { name: "input" type: "Python" %s python_param { module: "layers" layer: "%s" param_str: "%s" } }' \
        % (' '.join('top: "%s"' % t for t in tops), name, repr(p).replace('"', '\\"'))


@pytest.mark.parametrize('name', LAYERS)
def test_layer_in_a_torchcaffe_net(root, name):
    p = params(root, name, seed=4)
    tops = p.get('tops', getattr(layers, name).dataset.tops)
    net = caffe.Net(prototxt.parse(net_text(name, p), caffe_pb2.NetParameter()), caffe.TRAIN)
    direct = steps(*make(name, p), 3)
    for expected in direct:
        out = net.forward()
        for t, array in zip(tops, expected):
            np.testing.assert_array_equal(out[t], array)
    assert net.layer_dict['input'].state['position'] == 3


PYCAFFE_RUN = '''
import sys, numpy as np
from fcn import backend
caffe = backend.load('caffe')
arrays = []
for path, tops in zip(sys.argv[2::2], sys.argv[3::2]):
    net = caffe.Net(path, caffe.TRAIN)
    for _ in range(3):
        out = net.forward()
        arrays += [out[t].copy() for t in tops.split(',')]
np.savez(sys.argv[1], *arrays)
'''


def test_same_arrays_through_bvlc_pycaffe(root, tmp_path):
    """The module runs unchanged on real Caffe (where a pycaffe is built) and feeds the same arrays."""
    args, expected = [str(tmp_path / 'out.npz')], []
    for name in LAYERS:
        p = params(root, name, seed=4, prefetch=1)
        tops = p.get('tops', getattr(layers, name).dataset.tops)
        (tmp_path / (name + '.prototxt')).write_text(net_text(name, p))
        args += [str(tmp_path / (name + '.prototxt')), ','.join(tops)]
        expected += [a for arrays in steps(*make(name, dict(p, prefetch=0)), 3) for a in arrays]
    repo = fcn.REPO
    env = dict(os.environ, FCN_BACKEND='caffe')
    run = subprocess.run([sys.executable, '-c', PYCAFFE_RUN] + args, cwd=repo, env=env,
                         capture_output=True, text=True, timeout=120)
    if run.returncode and 'needs BVLC pycaffe' in run.stderr:
        pytest.skip('BVLC pycaffe is not built here (scripts/build_pycaffe.sh)')
    assert run.returncode == 0, run.stderr
    got = np.load(args[0])
    assert len(got.files) == len(expected)
    for i, array in enumerate(expected):
        np.testing.assert_array_equal(got['arr_%d' % i], array)
