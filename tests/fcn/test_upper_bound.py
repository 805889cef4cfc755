"""upper_bound.py: mean IU of the ground truth down- and upsampled by a factor (section 6.3)."""
import re

import numpy as np
import pytest

from fcn import surgery
from fcn import synthetic
from fcn.analyses import upper_bound

FACTORS = [128, 64, 32, 16, 8, 4, 2, 1]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    for dataset in ('voc', 'nyud', 'siftflow', 'context'):
        synthetic.main([dataset, '--out', str(root), '--n', '10', '--size', '72', '100'])
    return str(root)


def table(out):
    """{factor: (mean IU, pixel acc)} from the command's output."""
    rows = re.findall(r'^\s*(\d+)\s+([\d.]+)\s+([\d.]+)$', out, re.M)
    return {int(f): (float(iu), float(acc)) for f, iu, acc in rows}


@pytest.mark.parametrize('dataset, split', [('voc', 'val'), ('nyud', 'test'), ('siftflow', 'test'),
                                            ('context', 'val')])
def test_finer_factors_are_never_worse_and_factor_1_is_exact(data_root, dataset, split, capsys):
    upper_bound.main(['--dataset', dataset, '--data-root', data_root, '--split', split,
                      '--factors'] + [str(f) for f in FACTORS])
    out = capsys.readouterr().out
    assert out.splitlines()[1] == 'factor  mean IU  pixel acc'
    rows = table(out)
    assert sorted(rows) == sorted(FACTORS)
    ious = [rows[f][0] for f in FACTORS]  # coarse to fine
    assert ious == sorted(ious), out
    assert rows[1] == (100.0, 100.0)
    assert ious[0] < 90 < ious[-2], out  # the coarsest factor loses, the finest barely


def test_void_is_left_out_and_factor_1_returns_the_labels():
    rng = np.random.RandomState(0)
    label = rng.randint(0, 3, (9, 11)).astype(np.uint8)
    label[0, :] = 255
    np.testing.assert_array_equal(upper_bound.upsample(upper_bound.downsample(label, 1, 3), 1, label.shape)[1:],
                                  label[1:])
    shares = upper_bound.downsample(label, 4, 3)
    assert shares.shape == (3, 3, 3)
    np.testing.assert_allclose(shares.sum(2), 1)
    cell = label[:4, :4][label[:4, :4] < 3]  # row 0 is void
    np.testing.assert_allclose(shares[0, 0], np.bincount(cell, minlength=3) / cell.size)
    assert not upper_bound.downsample(np.full((4, 4), 255, np.uint8), 4, 3).any()


@pytest.mark.parametrize('factor', [2, 4, 8, 32])
def test_upsampling_is_fcns_bilinear_deconvolution_inside_the_image(factor):
    """A 2f-tap bilinear kernel at stride f (surgery.upsample_filt), cropped by f/2, equals the
    interpolation between cell centres wherever two cells contribute."""
    cells = np.random.RandomState(factor).rand(6)
    square = surgery.upsample_filt(2 * factor)
    kernel = square[factor - 1] / np.sqrt(square[factor - 1, factor - 1])  # one row of the outer product
    deconv = np.zeros(factor * 5 + 2 * factor)
    for i, v in enumerate(cells):
        deconv[factor * i:factor * i + 2 * factor] += v * kernel
    deconv = deconv[factor // 2:factor // 2 + 6 * factor]
    ours = upper_bound._interp(cells, factor, 6 * factor, 0)
    inside = slice(factor // 2, 6 * factor - factor // 2)
    np.testing.assert_allclose(ours[inside], deconv[inside])


def test_upper_bounds_by_hand():
    """A 4 x 8 half-and-half label at factor 8: one cell, all of the majority class."""
    label = np.zeros((4, 8), np.uint8)
    label[:, 5:] = 1
    (f, m), = upper_bound.upper_bounds([label], 2, [8])
    assert f == 8 and m['overall_acc'] == pytest.approx(5 / 8)
    assert m['mean_iu'] == pytest.approx((5 / 8 + 0) / 2)
