"""Preparation scripts under data/: seg11valid, SBD PNGs, NYUD and SIFT Flow splits, Context label lists."""
import importlib.util
import os

import numpy as np
import pytest
import scipy.io
from PIL import Image

from fcn import datasets
from fcn import synthetic

SIZE = (16, 20)


def script(relpath):
    """Import a script under data/ (its directory names are not package names)."""
    path = os.path.join(datasets.REPO, 'data', relpath)
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines('%s\n' % i for i in ids)


def test_seg11valid_on_a_synthetic_voc_and_sbd(tmp_path, capsys, monkeypatch):
    voc = synthetic.make_voc(str(tmp_path), n=16, size=SIZE)
    sbd = synthetic.make_sbd(str(tmp_path), n=12, size=SIZE)
    sets = os.path.join(voc, 'ImageSets', 'Segmentation')
    os.remove(os.path.join(sets, 'seg11valid.txt'))
    monkeypatch.setenv('FCN_DATA_ROOT', str(tmp_path))
    ids = script('pascal/seg11valid.py').main([])  # default directories, under the data root
    val, train = (datasets.read_ids(p) for p in (os.path.join(sets, 'val.txt'), os.path.join(sbd, 'train.txt')))
    assert ids == [i for i in val if i not in train] and 0 < len(ids) < len(val)
    assert datasets.read_ids(os.path.join(sets, 'seg11valid.txt')) == ids
    out = capsys.readouterr()
    assert 'wrote %d ids' % len(ids) in out.out
    assert 'warning: seg11valid has %d images, the paper\'s has 736' % len(ids) in out.err


def test_seg11valid_of_the_paper_size_gives_no_warning(tmp_path, capsys):
    val = ['2011_%06d' % k for k in range(800)]
    write(str(tmp_path / 'voc' / 'ImageSets' / 'Segmentation' / 'val.txt'), val)
    write(str(tmp_path / 'sbd' / 'train.txt'), val[::-12][:64] + ['2008_000001'])
    ids = script('pascal/seg11valid.py').main(['--voc-dir', str(tmp_path / 'voc'), '--sbdd-dir', str(tmp_path / 'sbd')])
    assert len(ids) == 736 and ids == sorted(ids)
    assert 'warning' not in capsys.readouterr().err


def test_seg11valid_names_a_missing_list(tmp_path):
    with pytest.raises(datasets.DataError, match='val.txt not found'):
        script('pascal/seg11valid.py').main(['--voc-dir', str(tmp_path), '--sbdd-dir', str(tmp_path)])


def test_sbd_mat_to_palette_png(tmp_path):
    sbd = synthetic.make_sbd(str(tmp_path), n=3, size=SIZE)
    script('sbdd/mat2png.py').main(['--sbdd-dir', sbd])
    for id_ in datasets.read_ids(os.path.join(sbd, 'train.txt')):
        png = Image.open(os.path.join(sbd, 'cls', id_ + '.png'))
        segmentation = scipy.io.loadmat(os.path.join(sbd, 'cls', id_ + '.mat'))['GTcls'][0]['Segmentation'][0]
        assert png.mode == 'P' and np.array_equal(np.asarray(png), segmentation)
    with pytest.raises(datasets.DataError, match='no .mat files in .*inst'):
        script('sbdd/mat2png.py').main(['--sbdd-dir', sbd, '--kind', 'inst'])


def test_nyud_splits_from_gupta_nyusplits_mat(tmp_path, capsys):
    mat = str(tmp_path / 'nyusplits.mat')
    scipy.io.savemat(mat, {'train': np.array([[5003, 5004]]), 'val': np.array([[5010]]),
                           'test': np.array([[5001], [5002]])})
    nyud = tmp_path / 'nyud'
    nyud.mkdir()
    script('nyud/splits.py').main(['--nyud-dir', str(nyud), '--mat', mat])
    lists = {s: datasets.read_ids(str(nyud / (s + '.txt'))) for s in ('train', 'val', 'trainval', 'test')}
    assert lists == {'train': ['5003', '5004'], 'val': ['5010'], 'trainval': ['5003', '5004', '5010'],
                     'test': ['5001', '5002']}
    err = capsys.readouterr().err
    assert 'trainval has 3 images, the standard NYUDv2 split has 795' in err and 'test has 2' in err


def test_nyud_splits_from_nyu_splits_mat_of_standard_size(tmp_path, capsys):
    test = np.arange(1, 1450, 2)[:654]
    train = np.setdiff1d(np.arange(1, 1450), test)
    mat = str(tmp_path / 'splits.mat')
    scipy.io.savemat(mat, {'trainNdxs': train[:, None], 'testNdxs': test[:, None]})
    splits = script('nyud/splits.py').main(['--nyud-dir', str(tmp_path), '--mat', mat])
    assert len(splits['trainval']) == 795 and splits['test'][:2] == ['5001', '5003']
    assert datasets.read_ids(str(tmp_path / 'trainval.txt')) == [str(5000 + k) for k in train]
    assert 'warning' not in capsys.readouterr().err


def test_nyud_trainval_from_text_lists_feeds_the_layer(tmp_path):
    nyud = synthetic.make_nyud(str(tmp_path), n=9, size=SIZE)
    expected = datasets.read_ids(os.path.join(nyud, 'trainval.txt'))
    os.remove(os.path.join(nyud, 'trainval.txt'))
    script('nyud/splits.py').main(['--nyud-dir', nyud])
    assert datasets.read_ids(os.path.join(nyud, 'trainval.txt')) == expected
    assert datasets.NYUD(nyud, 'trainval').ids == expected


def test_nyud_splits_reject_an_unknown_mat(tmp_path):
    mat = str(tmp_path / 'other.mat')
    scipy.io.savemat(mat, {'images': np.zeros(3)})
    with pytest.raises(datasets.DataError, match='neither trainNdxs/testNdxs .* variables: images'):
        script('nyud/splits.py').main(['--nyud-dir', str(tmp_path), '--mat', mat])


def test_siftflow_splits_from_a_test_list(tmp_path, capsys):
    sf = synthetic.make_siftflow(str(tmp_path), n=10, size=SIZE)
    sub = datasets.SIFTFlow.subdir
    unlabeled = os.path.join(sf, 'SemanticLabels', sub, 'highway_syn2.mat')
    scipy.io.savemat(unlabeled, {'S': np.zeros(SIZE, np.int16)})
    test_list = tmp_path / 'TestSet.txt'
    test_list.write_text('Images\\%s\\coast_syn0.jpg\nforest_syn1\n' % sub)
    splits = script('sift-flow/splits.py').main(['--siftflow-dir', sf, '--test-list', str(test_list)])
    assert splits['test'] == ['coast_syn0', 'forest_syn1']
    assert len(splits['trainval']) == 7 and 'highway_syn2' not in splits['trainval']
    assert datasets.SIFTFlow(sf, 'trainval').ids == splits['trainval']
    out = capsys.readouterr()
    assert 'left out unannotated images: highway_syn2' in out.out and '2 test images' in out.err


def test_context_labels_writes_59_labels_and_reports_the_mapping(tmp_path, capsys):
    context = synthetic.make_context(str(tmp_path), n=1, size=SIZE)
    os.remove(os.path.join(context, '59_labels.txt'))
    lut = script('pascal-context/labels.py').main(['--context-dir', context])
    names = [name for _, name in datasets.read_label_list(os.path.join(context, '59_labels.txt'))]
    assert len(names) == 59 and names[10] == 'diningtable'
    full = dict(datasets.read_label_list(os.path.join(context, 'labels.txt')))
    assert full[int(np.flatnonzero(lut == 11)[0])] == 'table'
    assert '11 diningtable  <- ' in capsys.readouterr().out


def test_context_labels_needs_labels_txt(tmp_path):
    with pytest.raises(datasets.DataError, match='labels.txt not found'):
        script('pascal-context/labels.py').main(['--context-dir', str(tmp_path)])
