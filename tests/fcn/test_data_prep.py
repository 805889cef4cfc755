"""fcn prepare: seg11valid, SBD PNGs, NYUD and SIFT Flow splits, Context label lists."""
import fnmatch
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
from PIL import Image

from fcn import datasets
from fcn import prepare
from fcn import synthetic

SIZE = (16, 20)


def exits_with(argv, message):
    """Run ``fcn prepare argv``, which must end with an error naming ``message``."""
    with pytest.raises(SystemExit, match=message) as e:
        prepare.main(argv)
    assert str(e.value).startswith('fcn prepare %s: ' % argv[0])


def write(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines('%s\n' % i for i in ids)


def test_prepare_help_lists_every_task():
    out = subprocess.run([sys.executable, '-m', 'fcn', 'prepare', '--help'], capture_output=True, text=True,
                         check=True).stdout
    for task in ('seg11valid', 'sbdd', 'nyud', 'siftflow', 'pascal-context'):
        assert '\n    %s ' % task in out or '\n    %s\n' % task in out


@pytest.mark.parametrize('root_from', ['env', 'flag'])
def test_seg11valid_on_a_synthetic_voc_and_sbd(tmp_path, capsys, monkeypatch, root_from):
    voc = synthetic.make_voc(str(tmp_path), n=16, size=SIZE)
    sbd = synthetic.make_sbd(str(tmp_path), n=12, size=SIZE)
    sets = os.path.join(voc, 'ImageSets', 'Segmentation')
    os.remove(os.path.join(sets, 'seg11valid.txt'))
    if root_from == 'env':
        monkeypatch.setenv('FCN_DATA_ROOT', str(tmp_path))
        argv = ['seg11valid']  # default directories, under the data root
    else:  # --data-root wins over $FCN_DATA_ROOT
        monkeypatch.setenv('FCN_DATA_ROOT', str(tmp_path / 'elsewhere'))
        argv = ['seg11valid', '--data-root', str(tmp_path)]
    assert prepare.main(argv) == 0
    val, train = (datasets.read_ids(p) for p in (os.path.join(sets, 'val.txt'), os.path.join(sbd, 'train.txt')))
    ids = datasets.read_ids(os.path.join(sets, 'seg11valid.txt'))
    assert ids == [i for i in val if i not in train] and 0 < len(ids) < len(val)
    out = capsys.readouterr()
    assert 'wrote %d ids' % len(ids) in out.out
    assert 'warning: seg11valid has %d images, the paper\'s has 736' % len(ids) in out.err


def test_seg11valid_of_the_paper_size_gives_no_warning(tmp_path, capsys):
    val = ['2011_%06d' % k for k in range(800)]
    write(str(tmp_path / 'voc' / 'ImageSets' / 'Segmentation' / 'val.txt'), val)
    write(str(tmp_path / 'sbd' / 'train.txt'), val[::-12][:64] + ['2008_000001'])
    prepare.main(['seg11valid', '--voc-dir', str(tmp_path / 'voc'), '--sbdd-dir', str(tmp_path / 'sbd')])
    ids = datasets.read_ids(str(tmp_path / 'voc' / 'ImageSets' / 'Segmentation' / 'seg11valid.txt'))
    assert len(ids) == 736 and ids == sorted(ids)
    assert 'warning' not in capsys.readouterr().err


def test_seg11valid_names_a_missing_list(tmp_path):
    with pytest.raises(datasets.DataError, match='val.txt not found'):
        prepare.seg11valid_split(str(tmp_path), str(tmp_path))
    exits_with(['seg11valid', '--voc-dir', str(tmp_path), '--sbdd-dir', str(tmp_path)], 'val.txt not found')


def test_sbd_mat_to_palette_png(tmp_path, capsys):
    sbd = synthetic.make_sbd(str(tmp_path), n=3, size=SIZE)
    prepare.main(['sbdd', '--sbdd-dir', sbd])
    for id_ in datasets.read_ids(os.path.join(sbd, 'train.txt')):
        png = Image.open(os.path.join(sbd, 'cls', id_ + '.png'))
        segmentation = scipy.io.loadmat(os.path.join(sbd, 'cls', id_ + '.mat'))['GTcls'][0]['Segmentation'][0]
        assert png.mode == 'P' and np.array_equal(np.asarray(png), segmentation)
    out = capsys.readouterr()
    assert 'converted 3 cls labels' in out.out and 'sbdd cls 3/3' in out.err  # the progress line
    with pytest.raises(datasets.DataError, match='no .mat files in .*inst'):
        prepare.sbdd_pngs(sbd, 'inst')
    exits_with(['sbdd', '--sbdd-dir', sbd, '--kind', 'inst'], 'no .mat files in .*inst')


def test_sbd_names_a_corrupt_mat(tmp_path):
    sbd = synthetic.make_sbd(str(tmp_path), n=2, size=SIZE)
    bad = os.path.join(sbd, 'cls', 'zz_bad.mat')
    with open(bad, 'wb') as f:
        f.write(b'not a mat file')
    exits_with(['sbdd', '--sbdd-dir', sbd], 'cannot read %s' % bad)


def test_nyud_splits_from_gupta_nyusplits_mat(tmp_path, capsys):
    mat = str(tmp_path / 'nyusplits.mat')
    scipy.io.savemat(mat, {'train': np.array([[5003, 5004]]), 'val': np.array([[5010]]),
                           'test': np.array([[5001], [5002]])})
    nyud = tmp_path / 'nyud'
    nyud.mkdir()
    prepare.main(['nyud', '--nyud-dir', str(nyud), '--mat', mat])
    lists = {s: datasets.read_ids(str(nyud / (s + '.txt'))) for s in ('train', 'val', 'trainval', 'test')}
    assert lists == {'train': ['5003', '5004'], 'val': ['5010'], 'trainval': ['5003', '5004', '5010'],
                     'test': ['5001', '5002']}
    err = capsys.readouterr().err
    assert 'trainval has 3 images, the standard NYUDv2 split has 795' in err and 'test has 2' in err
    exits_with(['nyud', '--nyud-dir', str(tmp_path / 'nope'), '--mat', mat], 'directory .*nope not found')


def test_nyud_splits_from_nyu_splits_mat_of_standard_size(tmp_path, capsys):
    test = np.arange(1, 1450, 2)[:654]
    train = np.setdiff1d(np.arange(1, 1450), test)
    mat = str(tmp_path / 'splits.mat')
    scipy.io.savemat(mat, {'trainNdxs': train[:, None], 'testNdxs': test[:, None]})
    splits = prepare.nyud_splits_from_mat(mat)
    assert len(splits['trainval']) == 795 and splits['test'][:2] == ['5001', '5003']
    prepare.main(['nyud', '--nyud-dir', str(tmp_path), '--mat', mat])
    assert datasets.read_ids(str(tmp_path / 'trainval.txt')) == [str(5000 + k) for k in train]
    assert datasets.read_ids(str(tmp_path / 'test.txt')) == splits['test']
    assert 'warning' not in capsys.readouterr().err


def test_nyud_trainval_from_text_lists_feeds_the_layer(tmp_path):
    nyud = synthetic.make_nyud(str(tmp_path), n=9, size=SIZE)
    expected = datasets.read_ids(os.path.join(nyud, 'trainval.txt'))
    os.remove(os.path.join(nyud, 'trainval.txt'))
    prepare.main(['nyud', '--nyud-dir', nyud])
    assert datasets.read_ids(os.path.join(nyud, 'trainval.txt')) == expected
    assert datasets.NYUD(nyud, 'trainval').ids == expected


def test_nyud_splits_reject_an_unknown_mat(tmp_path):
    mat = str(tmp_path / 'other.mat')
    scipy.io.savemat(mat, {'images': np.zeros(3)})
    with pytest.raises(datasets.DataError, match='neither trainNdxs/testNdxs .* variables: images'):
        prepare.nyud_splits_from_mat(mat)
    exits_with(['nyud', '--nyud-dir', str(tmp_path), '--mat', mat], 'neither trainNdxs/testNdxs .* variables: images')


def test_nyud_without_mat_or_lists_asks_for_mat(tmp_path):
    exits_with(['nyud', '--nyud-dir', str(tmp_path)], 'train.txt not found: give --mat')


def test_siftflow_splits_from_a_test_list(tmp_path, capsys):
    sf = synthetic.make_siftflow(str(tmp_path), n=10, size=SIZE)
    sub = datasets.SIFTFlow.subdir
    unlabeled = os.path.join(sf, 'SemanticLabels', sub, 'highway_syn2.mat')
    scipy.io.savemat(unlabeled, {'S': np.zeros(SIZE, np.int16)})
    test_list = tmp_path / 'TestSet.txt'
    test_list.write_text('Images\\%s\\coast_syn0.jpg\nforest_syn1\n' % sub)
    prepare.main(['siftflow', '--siftflow-dir', sf, '--test-list', str(test_list)])
    splits = {s: datasets.read_ids(os.path.join(sf, s + '.txt')) for s in ('trainval', 'test')}
    assert splits['test'] == ['coast_syn0', 'forest_syn1']
    assert len(splits['trainval']) == 7 and 'highway_syn2' not in splits['trainval']
    assert datasets.SIFTFlow(sf, 'trainval').ids == splits['trainval']
    out = capsys.readouterr()
    assert 'left out unannotated images: highway_syn2' in out.out and '2 test images' in out.err
    assert 'reading labels 10/10' in out.err  # the progress line
    test_list.write_text('coast_syn0\nnot_there\n')
    exits_with(['siftflow', '--siftflow-dir', sf, '--test-list', str(test_list)], 'test images not in .*: not_there')


def test_context_labels_writes_59_labels_and_reports_the_mapping(tmp_path, capsys):
    context = synthetic.make_context(str(tmp_path), n=1, size=SIZE)
    os.remove(os.path.join(context, '59_labels.txt'))
    prepare.main(['pascal-context', '--context-dir', context])
    names = [name for _, name in datasets.read_label_list(os.path.join(context, '59_labels.txt'))]
    assert len(names) == 59 and names[10] == 'diningtable'
    task_class, name, index, full_name = prepare.context_mapping(context)[10]
    full = dict(datasets.read_label_list(os.path.join(context, 'labels.txt')))
    assert (task_class, name, full_name) == (11, 'diningtable', 'table') and full[index] == 'table'
    out = capsys.readouterr().out
    assert 'wrote %s' % os.path.join(context, '59_labels.txt') in out and '11 diningtable  <- ' in out


def test_context_labels_needs_labels_txt(tmp_path):
    with pytest.raises(datasets.DataError, match='labels.txt not found'):
        prepare.context_mapping(str(tmp_path))
    exits_with(['pascal-context', '--context-dir', str(tmp_path)], 'labels.txt not found')
    assert not os.path.exists(tmp_path / '59_labels.txt')  # nothing written into a wrong directory


def test_the_59_classes_ship_with_the_package():
    tomllib = pytest.importorskip('tomllib')
    with open(os.path.join(datasets.REPO, 'pyproject.toml'), 'rb') as f:
        patterns = tomllib.load(f)['tool']['setuptools']['package-data']['fcn']
    relative = os.path.relpath(prepare.CLASSES_59, os.path.dirname(prepare.__file__))
    assert any(fnmatch.fnmatch(relative, p) for p in patterns)
    pairs = datasets.read_label_list(prepare.CLASSES_59)
    assert [k for k, _ in pairs] == list(range(60)) and pairs[0][1] == 'background'
    assert synthetic.CLASSES_59 == prepare.CLASSES_59
