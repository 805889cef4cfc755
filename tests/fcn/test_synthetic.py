"""Synthetic datasets: the real on-disk layouts, determinism, and structure a net can learn."""
import filecmp
import os

import numpy as np
import pytest
import scipy.io
from PIL import Image

from fcn import datasets
from fcn import synthetic
from fcn import vis

SIZE = (20, 28)
SUB = datasets.SIFTFlow.subdir

# For each dataset: files of picture 0 and the split lists, relative to the data root.
LAYOUTS = {
    'voc': ['pascal/VOC2011/JPEGImages/2007_000000.jpg', 'pascal/VOC2011/SegmentationClass/2007_000000.png',
            'pascal/VOC2011/ImageSets/Segmentation/train.txt', 'pascal/VOC2011/ImageSets/Segmentation/val.txt',
            'pascal/VOC2011/ImageSets/Segmentation/seg11valid.txt'],
    'sbd': ['sbdd/dataset/img/2007_000000.jpg', 'sbdd/dataset/cls/2007_000000.mat',
            'sbdd/dataset/train.txt', 'sbdd/dataset/val.txt'],
    'nyud': ['nyud/data/images/img_5001.png', 'nyud/data/depth/img_5001.png', 'nyud/data/hha/img_5001.png',
             'nyud/segmentation/img_5001.mat', 'nyud/trainval.txt', 'nyud/test.txt', 'nyud/train.txt',
             'nyud/val.txt'],
    'siftflow': ['sift-flow/Images/%s/coast_syn0.jpg' % SUB, 'sift-flow/SemanticLabels/%s/coast_syn0.mat' % SUB,
                 'sift-flow/GeoLabels/%s/coast_syn0.mat' % SUB, 'sift-flow/trainval.txt', 'sift-flow/test.txt'],
    'context': ['pascal/VOC2010/JPEGImages/2007_000000.jpg', 'pascal/VOC2010/ImageSets/Main/train.txt',
                'pascal/VOC2010/ImageSets/Main/val.txt', 'pascal-context/trainval/2007_000000.mat',
                'pascal-context/labels.txt', 'pascal-context/59_labels.txt'],
}


def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def same_content(a, b):
    """Files equal byte for byte, or for .mat files (whose header holds a time) variable for variable."""
    if not a.endswith('.mat'):
        return filecmp.cmp(a, b, shallow=False)
    x, y = scipy.io.loadmat(a, simplify_cells=True), scipy.io.loadmat(b, simplify_cells=True)
    keys = [k for k in x if not k.startswith('__')]
    return keys == [k for k in y if not k.startswith('__')] and all(
        np.array_equal(np.asarray(x[k]['Segmentation'] if k == 'GTcls' else x[k]),
                       np.asarray(y[k]['Segmentation'] if k == 'GTcls' else y[k])) for k in keys)


@pytest.mark.parametrize('dataset', sorted(LAYOUTS))
def test_real_layout_and_determinism(tmp_path, dataset):
    make = synthetic.MAKERS[dataset]
    for name, seed in (('a', 1), ('b', 1), ('c', 2)):
        make(str(tmp_path / name), n=6, size=SIZE, seed=seed)
    listing = files(tmp_path / 'a')
    assert set(LAYOUTS[dataset]) <= set(listing)
    assert listing == files(tmp_path / 'b') == files(tmp_path / 'c')
    assert all(same_content(str(tmp_path / 'a' / f), str(tmp_path / 'b' / f)) for f in listing)
    differ = [f for f in listing if not same_content(str(tmp_path / 'a' / f), str(tmp_path / 'c' / f))]
    assert any(not f.endswith('.txt') for f in differ)  # another seed, other pictures


def test_voc_labels_are_palette_pngs_with_void_borders(tmp_path):
    voc = synthetic.make_voc(str(tmp_path), n=6, size=SIZE, classes=3)
    for id_ in datasets.read_ids(os.path.join(voc, 'ImageSets', 'Segmentation', 'trainval.txt')):
        im = Image.open(os.path.join(voc, 'SegmentationClass', id_ + '.png'))
        assert im.mode == 'P' and im.size == SIZE[::-1]
        assert np.array_equal(np.array(im.getpalette()).reshape(-1, 3), vis.voc_palette())
        label = np.asarray(im)
        assert set(np.unique(label)) <= {0, 1, 2, 3, 255}
        objects = label[(label > 0) & (label < 255)]
        assert objects.size and (label == 255).any()


def test_sbd_reads_like_the_real_files_and_shares_voc_pictures(tmp_path):
    voc = synthetic.make_voc(str(tmp_path), n=8, size=SIZE)
    sbd = synthetic.make_sbd(str(tmp_path), n=8, size=SIZE)
    for id_ in datasets.read_ids(os.path.join(sbd, 'train.txt')):
        gt = scipy.io.loadmat(os.path.join(sbd, 'cls', id_ + '.mat'))['GTcls']
        segmentation = gt[0]['Segmentation'][0]
        assert segmentation.dtype == np.uint8 and segmentation.shape == SIZE
        assert 255 not in segmentation  # SBD has no void border
        assert gt[0]['Boundaries'][0].shape == (20, 1)
        assert list(gt[0]['CategoriesPresent'][0].ravel()) == sorted(set(np.unique(segmentation)) - {0})
        voc_label = np.asarray(Image.open(os.path.join(voc, 'SegmentationClass', id_ + '.png')))
        known = voc_label != 255
        np.testing.assert_array_equal(segmentation[known], voc_label[known])
        assert filecmp.cmp(os.path.join(sbd, 'img', id_ + '.jpg'), os.path.join(voc, 'JPEGImages', id_ + '.jpg'),
                           shallow=False)


def test_seg11valid_avoids_sbd_train(tmp_path):
    voc = synthetic.make_voc(str(tmp_path), n=16, size=SIZE)
    sbd = synthetic.make_sbd(str(tmp_path), n=16, size=SIZE)
    sets = os.path.join(voc, 'ImageSets', 'Segmentation')
    valid = datasets.read_ids(os.path.join(sets, 'seg11valid.txt'))
    assert valid and set(valid) <= set(datasets.read_ids(os.path.join(sets, 'val.txt')))
    assert not set(valid) & set(datasets.read_ids(os.path.join(sbd, 'train.txt')))


def test_nyud_depth_is_16_bit_millimetres_and_labels_use_zero_for_void(tmp_path):
    nyud = synthetic.make_nyud(str(tmp_path), n=4, size=SIZE)
    depth = Image.open(os.path.join(nyud, 'data', 'depth', 'img_5001.png'))
    mm = np.asarray(depth)
    assert mm.dtype == np.uint16 and 300 < mm.min() and mm.max() < 10000
    assert Image.open(os.path.join(nyud, 'data', 'hha', 'img_5001.png')).mode == 'RGB'
    raw = scipy.io.loadmat(os.path.join(nyud, 'segmentation', 'img_5001.mat'))['segmentation']
    assert raw.shape == SIZE and (raw == 0).any() and (raw == 1).any() and raw.max() <= 40
    trainval = datasets.read_ids(os.path.join(nyud, 'trainval.txt'))
    assert trainval == datasets.read_ids(os.path.join(nyud, 'train.txt')) + datasets.read_ids(
        os.path.join(nyud, 'val.txt'))
    assert not set(trainval) & set(datasets.read_ids(os.path.join(nyud, 'test.txt')))


def test_siftflow_labels_use_the_dataset_voids(tmp_path):
    sf = synthetic.make_siftflow(str(tmp_path), n=4, size=SIZE)
    sem = scipy.io.loadmat(os.path.join(sf, 'SemanticLabels', SUB, 'coast_syn0.mat'))['S']
    geo = scipy.io.loadmat(os.path.join(sf, 'GeoLabels', SUB, 'coast_syn0.mat'))['S']
    assert sem.min() == 0 and 28 in sem and sem.max() <= 33  # void 0, sky 28
    assert geo.min() == -1 and 1 in geo and geo.max() <= 3
    np.testing.assert_array_equal(sem == 0, geo == -1)


def test_context_lists_resolve_all_59_classes(tmp_path):
    context = synthetic.make_context(str(tmp_path), n=2, size=SIZE)
    labels = datasets.read_label_list(os.path.join(context, 'labels.txt'))
    labels_59 = datasets.read_label_list(os.path.join(context, '59_labels.txt'))
    assert [k for k, _ in labels_59] == list(range(1, 60))
    lut = datasets.context_lut(labels, labels_59)
    assert sorted(lut[lut > 0]) == list(range(1, 60))
    assert 'airconditioner' in dict(labels).values()  # spaces go, as the layer matches names


def test_classes_are_separable_by_colour_and_texture():
    """A nearest-mean colour rule already labels most pixels: the structure is there to learn."""
    pixels, labels = [], []
    for k in range(40):
        rgb, label = synthetic.render(0, k, (48, 48), 4)
        pixels.append(rgb.reshape(-1, 3).astype(float))
        labels.append(label.ravel())
    x, y = np.concatenate(pixels), np.concatenate(labels)
    half = len(x) // 2
    means = np.array([x[:half][y[:half] == c].mean(0) for c in range(5)])
    assert np.linalg.norm(means[:, None] - means[None], axis=2)[np.triu_indices(5, 1)].min() > 60
    guess = np.argmin(((x[half:, None] - means) ** 2).sum(-1), axis=1)
    assert (guess == y[half:]).mean() > 0.9
    for c, (_, _, texture) in enumerate(synthetic.STYLES[:4], 1):  # textured classes vary within an object
        assert texture == 'plain' or x[y == c].std(0).max() > 20


def test_cli_writes_under_the_data_root(tmp_path, capsys):
    synthetic.main(['nyud', '--out', str(tmp_path), '--n', '3', '--size', '16', '20', '--seed', '4'])
    assert capsys.readouterr().out.strip() == str(tmp_path / 'nyud')
    assert np.asarray(Image.open(tmp_path / 'nyud' / 'data' / 'images' / 'img_5003.png')).shape == (16, 20, 3)
    with pytest.raises(SystemExit):
        synthetic.main(['voc', '--out', str(tmp_path), '--classes', '9'])
