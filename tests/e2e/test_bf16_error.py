"""scripts/bf16_error.py: bf16 against float32 per experiment net, and its table."""
import os
import sys

import pytest
import torch

import torchcaffe as caffe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))

import bf16_error  # noqa: E402


def test_every_experiment_is_listed():
    assert len(bf16_error.experiments()) == 16 and 'voc-fcn8s' in bf16_error.experiments()


@pytest.mark.parametrize('name', ['siftflow-fcn16s', 'nyud-fcn32s-color-hha'])
def test_bf16_is_close_to_float32_and_says_so(name, tmp_path, capsys):
    """A two-output net and a two-input net: small, nonzero error; nearly every pixel's class agrees."""
    out = tmp_path / 'table.md'
    bf16_error.main(['--nets', name, '--size', '48', '--out', str(out)])
    err, agree, _, _ = bf16_error.compare(name, 48)
    assert 0 < err < 0.05 and agree > 0.9
    assert caffe.engine.device.compute_dtype() == torch.float32  # put back
    row = [line for line in out.read_text().splitlines() if line.startswith('| %s |' % name)]
    assert row and row[0] == '| %s | %.2g | %.2f%% |' % (name, err, 100 * agree)
    assert '%s: error %.2g' % (name, err) in capsys.readouterr().out
