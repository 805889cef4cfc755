"""The data layers' training-side transforms: masking (Table 8), mirror, jitter, loss sampling."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fcn
from fcn import layers
import refcaffe
from fcn import datasets
from fcn import synthetic
from torchcaffe.engine.blob import Blob

SIZE = (24, 32)
N = 10
VOID = 255


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    for name in ('voc', 'sbd', 'nyud'):
        synthetic.MAKERS[name](str(root), n=N, size=SIZE, seed=5)
    return root


def voc(root, **kw):
    return dict({'voc_dir': str(root / 'pascal' / 'VOC2011'), 'split': 'val', 'seed': 2}, **kw)


def sbd(root, **kw):
    return dict({'sbdd_dir': str(root / 'sbdd' / 'dataset'), 'split': 'train', 'seed': 2}, **kw)


def make(cls, p):
    layer = cls()
    layer.param_str = repr(p)
    top = [Blob() for _ in p.get('tops', cls.dataset.tops)]
    layer.setup([], top)
    return layer, top


def run(cls, p, n):
    """The tops of the first ``n`` forwards, as (C x H x W) arrays."""
    layer, top = make(cls, p)
    out = []
    for _ in range(n):
        layer.reshape([], top)
        layer.forward([], top)
        out.append([b.data[0].copy() for b in top])
    return out


# -- masking -----------------------------------------------------------------
def test_masking_modes_from_the_ground_truth(root):
    plain = run(layers.VOCSegDataLayer, voc(root), N)
    mean = np.float32(datasets.VOC_MEAN)[:, None, None]
    for mode in layers.MASKS:
        for (data, label), (masked, masked_label) in zip(plain, run(layers.VOCSegDataLayer, voc(root, mask=mode), N)):
            np.testing.assert_array_equal(masked_label, label)  # the ground truth is untouched
            lab = label[0]
            fg, bg, void = (lab != 0) & (lab != VOID), lab == 0, lab == VOID
            assert fg.any() and bg.any() and void.any()
            if mode == 'shape':  # the mask as a white-on-black picture; void at the mean
                np.testing.assert_array_equal(masked[:, fg], np.broadcast_to(255 - mean, masked.shape)[:, fg])
                np.testing.assert_array_equal(masked[:, bg], np.broadcast_to(-mean, masked.shape)[:, bg])
                assert not masked[:, void].any()
            else:
                keep = fg if mode == 'fg-only' else bg
                np.testing.assert_array_equal(masked[:, keep], data[:, keep])
                assert not masked[:, ~keep].any()


@pytest.mark.parametrize('p, message', [
    ({'mask': 'fg'}, "mask must be one of fg-only, bg-only, shape, got 'fg'"),
    ({'mask': 'shape', 'tops': ['data']}, 'mask must be used with a "label" top'),
    ({'mirror': 1}, 'mirror must be True or False'),
    ({'jitter': -1}, 'jitter must be a non-negative integer'),
    ({'jitter': 2.5}, 'jitter must be a non-negative integer'),
    ({'sample': 0}, 'sample must be in (0, 1]'),
    ({'sample': 1.5}, 'sample must be in (0, 1]'),
    ({'sample': True}, 'sample must be in (0, 1]'),
    ({'sample_stride': 0}, 'sample_stride must be a positive integer'),
    ({'prefetch': 65}, 'prefetch must be an integer from 0 to 64'),
    ({'mirrror': True}, "unknown keys 'mirrror'"),
])
def test_option_errors(root, p, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(']', r'\]')):
        make(layers.VOCSegDataLayer, voc(root, **p))


def test_masking_needs_a_background_class(root):
    p = {'nyud_dir': str(root / 'nyud'), 'split': 'test', 'mask': 'fg-only'}
    with pytest.raises(ValueError, match='a dataset with a background class'):
        make(layers.NYUDSegDataLayer, p)


# -- mirror and jitter ---------------------------------------------------------
def test_mirror_flips_image_and_label_together(root):
    plain = run(layers.VOCSegDataLayer, voc(root), 2 * N)
    flipped = 0
    for (data, label), (d, l) in zip(plain, run(layers.VOCSegDataLayer, voc(root, mirror=True), 2 * N)):
        if np.array_equal(d, data[:, :, ::-1]):
            np.testing.assert_array_equal(l, label[:, :, ::-1])
            flipped += 1
        else:
            np.testing.assert_array_equal(d, data)
            np.testing.assert_array_equal(l, label)
    assert 3 <= flipped <= 2 * N - 3  # about half: 20 fair coins land here with p > 0.997


def shifted(array, dy, dx, fill):
    """Independent reference: ``array`` moved by (dy, dx), built pixel block by pixel block."""
    h, w = array.shape[1:]
    out = np.full_like(array, fill)
    for y in range(h):
        if 0 <= y - dy < h:
            for x in range(w):
                if 0 <= x - dx < w:
                    out[:, y, x] = array[:, y - dy, x - dx]
    return out


def test_jitter_translates_image_and_label_by_the_same_bounded_offset(root):
    jitter = 3
    offsets = []
    for (data, label), (d, l) in zip(run(layers.VOCSegDataLayer, voc(root), 2 * N),
                                     run(layers.VOCSegDataLayer, voc(root, jitter=jitter), 2 * N)):
        found = [(dy, dx) for dy in range(-jitter, jitter + 1) for dx in range(-jitter, jitter + 1)
                 if np.array_equal(d, shifted(data, dy, dx, 0)) and np.array_equal(l, shifted(label, dy, dx, VOID))]
        assert found, 'no offset within %d px maps the plain image and label onto the jittered ones' % jitter
        offsets.append(found[0])
    assert len(set(offsets)) > 5  # offsets vary from image to image


def test_jitter_wider_than_the_image_uncovers_it_all(root):
    out = run(layers.VOCSegDataLayer, voc(root, jitter=1000), 5)
    assert all(d.shape == (3,) + SIZE and l.shape == (1,) + SIZE for d, l in out)
    assert any(not d.any() and (l == VOID).all() for d, l in out)


# -- loss sampling -------------------------------------------------------------
@pytest.mark.parametrize('p', [0.25, 0.5])
def test_sampling_keeps_cells_with_probability_p(root, p):
    """SBD has no void pixels, so a cell is dropped exactly when its labels turned void."""
    stride, n = 10, 150  # 24 x 32 images: 3 x 4 cells, the last row and column partial
    kept = total = 0
    for (data, label), (d, l) in zip(run(layers.SBDDSegDataLayer, sbd(root), n),
                                     run(layers.SBDDSegDataLayer, sbd(root, sample=p, sample_stride=stride), n)):
        assert VOID not in label
        np.testing.assert_array_equal(d, data)  # the image is untouched
        for y in range(0, SIZE[0], stride):
            for x in range(0, SIZE[1], stride):
                cell, plain = l[0, y:y + stride, x:x + stride], label[0, y:y + stride, x:x + stride]
                if np.array_equal(cell, plain):
                    kept += 1
                else:
                    assert (cell == VOID).all(), 'a cell is kept or dropped as a whole'
                total += 1
    sigma = np.sqrt(p * (1 - p) / total)
    assert abs(kept / total - p) < 4 * sigma, (kept, total)


def test_sampling_uses_the_final_stride_by_default(root):
    """With 32 px cells, a 24 x 32 image is one cell: all kept or all void."""
    outcomes = set()
    for _, l in run(layers.SBDDSegDataLayer, sbd(root, sample=0.5), 30):
        assert (l == VOID).all() or VOID not in l
        outcomes.add(bool((l == VOID).all()))
    assert outcomes == {True, False}


def test_a_stride_beyond_the_image_is_one_cell_and_costs_no_memory(root):
    """Cells are found by index: a stride of 10**12 (its cell grid repeated out would be
    petabytes) samples the whole image as one cell."""
    outcomes = set()
    for _, l in run(layers.SBDDSegDataLayer, sbd(root, sample=0.5, sample_stride=10 ** 12), 30):
        assert (l == VOID).all() or VOID not in l
        outcomes.add(bool((l == VOID).all()))
    assert outcomes == {True, False}


# -- reproducible and resumable ----------------------------------------------------
ALL = dict(mirror=True, jitter=4, sample=0.5, sample_stride=8, mask='fg-only', randomize=True)


def test_transforms_depend_only_on_seed_and_position(root):
    first = run(layers.VOCSegDataLayer, voc(root, **ALL), 8)
    assert all(np.array_equal(a, b) for x, y in zip(first, run(layers.VOCSegDataLayer, voc(root, **ALL), 8))
               for a, b in zip(x, y))
    other = run(layers.VOCSegDataLayer, voc(root, **dict(ALL, seed=3)), 8)
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(first, other))
    layer, top = make(layers.VOCSegDataLayer, voc(root, **dict(ALL, prefetch=2)))
    layer.restore({'seed': 2, 'position': 5})
    for expected in first[5:]:
        layer.reshape([], top)
        layer.forward([], top)
        for blob, array in zip(top, expected):
            np.testing.assert_array_equal(blob.data[0], array)


def test_data_parallel_replicas_share_the_transform_stream(root, monkeypatch):
    """Two replicas (torchrun's RANK, WORLD_SIZE) feed, interleaved, what one process feeds."""
    single = run(layers.VOCSegDataLayer, voc(root, **ALL), 6)
    monkeypatch.setenv('WORLD_SIZE', '2')
    replicas = []
    for rank in ('0', '1'):
        monkeypatch.setenv('RANK', rank)
        replicas.append(run(layers.VOCSegDataLayer, voc(root, **ALL), 3))
    for expected, got in zip(single, [x for pair in zip(*replicas) for x in pair]):
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)


def test_translate_handles_every_offset():
    a = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5)
    for dy in range(-6, 7):
        for dx in range(-7, 8):
            np.testing.assert_array_equal(layers.translate(a, dy, dx, -1), shifted(a, dy, dx, -1))


LIVE = """
import sys, numpy as np
from fcn import backend
caffe = backend.load('caffe')
net = caffe.Net(sys.argv[1], caffe.TRAIN)
arrays = []
for _ in range(int(sys.argv[3])):
    net.forward()
    arrays += [net.blobs['data'].data[0].copy(), net.blobs['label'].data[0].copy()]
np.savez(sys.argv[2], *arrays)
"""


def test_same_transforms_inside_bvlc_caffe(root, tmp_path, pycaffe):
    p = voc(root, **ALL)
    text = ('layer { name: "input" type: "Python" top: "data" top: "label" python_param { module: "layers" '
            'layer: "VOCSegDataLayer" param_str: "%s" } }' % repr(p).replace('"', '\\"'))
    (tmp_path / 'net.prototxt').write_text(text)
    out, n = str(tmp_path / 'out.npz'), 6
    repo = fcn.REPO
    r = subprocess.run([sys.executable, '-c', LIVE, str(tmp_path / 'net.prototxt'), out, str(n)], cwd=repo,
                       env=dict(refcaffe.env(), FCN_BACKEND='caffe'), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    got = np.load(out)
    expected = [a for arrays in run(layers.VOCSegDataLayer, p, n) for a in arrays]
    assert len(got.files) == len(expected)
    for i, array in enumerate(expected):
        np.testing.assert_array_equal(got['arr_%d' % i], array)
