"""demo.py end to end: a shortened run on each backend (outputs exist and are well formed,
the net is voc-fcn8s's topology), and the full run's promise of mean IU >= 0.7."""
import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

import refcaffe
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def demo(out, *args, env=None):
    r = subprocess.run([sys.executable, '-m', 'fcn', 'demo', '--out', str(out), *args],
                       cwd=str(out.parent), env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout


def final_mean_iu(stdout, out):
    """The mean IU the demo reports last, checked against its log."""
    m = re.search(r'mean IU (\d\.\d+) on seg11valid after (\d+) iterations\n.*results in (\S+)\n', stdout)
    assert m and m.group(3) == str(out), stdout[-1000:]
    with open(out / 'train' / 'log.jsonl') as f:
        last = [r for r in map(json.loads, f) if 'scores' in r][-1]
    assert last['iter'] == int(m.group(2))
    assert float(m.group(1)) == round(last['scores']['score']['mean_iu'], 3)
    return last['scores']['score']['mean_iu']


def check_outputs(out, iters):
    """Everything the demo promises, well formed."""
    voc = out / 'data' / 'pascal' / 'VOC2011'
    assert len((voc / 'ImageSets' / 'Segmentation' / 'seg11valid.txt').read_text().split()) == 50
    assert len((out / 'data' / 'sbdd' / 'dataset' / 'train.txt').read_text().split()) == 150

    net = prototxt.read(str(out / 'net' / 'train.prototxt'), caffe_pb2.NetParameter)
    layers = {layer.name: layer for layer in net.layer}
    assert layers['conv1_1'].convolution_param.pad == [100]
    assert layers['conv1_1'].convolution_param.weight_filler.type == 'msra'
    assert not layers['score_fr'].convolution_param.HasField('weight_filler')  # FCN's zero init
    # voc-fcn8s's crops: the narrow trunk keeps VGG16's strides and paddings
    assert [(name, layers[name].crop_param.offset) for name in ('score_pool4c', 'score_pool3c', 'score')] \
        == [('score_pool4c', [5]), ('score_pool3c', [9]), ('score', [31])]
    assert layers['loss'].type == 'SoftmaxWithLoss' and layers['loss'].loss_param.normalize
    for name in ('val', 'deploy', 'solver'):
        assert (out / 'net' / (name + '.prototxt')).stat().st_size > 0

    log = [json.loads(line) for line in (out / 'train' / 'log.jsonl').read_text().splitlines()]
    scores = [r['iter'] for r in log if 'scores' in r]
    assert scores[-1] == iters and len(scores) == 5
    assert (out / 'train' / ('train_iter_%d.caffemodel' % iters)).is_file()
    with open(out / 'train' / 'log.csv', newline='') as f:
        table = list(csv.reader(f))
    assert table[0][:4] == ['iter', 'time', 'loss', 'lr'] and 'score mean_iu' in table[0]
    assert len(table) == 1 + len(log)
    for chart in ('curves', 'per_class_iou', 'confusion'):  # one head: no suffixes
        with Image.open(out / 'train' / 'charts' / (chart + '.png')) as picture:
            assert picture.format == 'PNG' and picture.size[0] > 300

    names = (voc / 'ImageSets' / 'Segmentation' / 'seg11valid.txt').read_text().split()[:12]
    assert sorted(os.listdir(out / 'predictions')) == sorted(
        [n + '.png' for n in names] + [n + '_overlay.png' for n in names])
    for name in names:
        with Image.open(out / 'predictions' / (name + '.png')) as label, \
                Image.open(voc / 'JPEGImages' / (name + '.jpg')) as image:
            assert label.mode == 'P' and label.size == image.size
            assert np.array(label).max() < 21
        with Image.open(out / 'predictions' / (name + '_overlay.png')) as overlay:
            assert overlay.mode == 'RGB' and overlay.size == image.size


def test_short_demo_writes_data_nets_log_charts_and_predictions(tmp_path):
    out = tmp_path / 'demo'
    stdout = demo(out, '--iters', '30')
    check_outputs(out, 30)
    assert 0 <= final_mean_iu(stdout, out) <= 1


def test_short_demo_in_bf16(tmp_path):
    out = tmp_path / 'demo'
    stdout = demo(out, '--iters', '10', '--precision', 'bf16')
    assert 'on CPU, bf16' in stdout
    check_outputs(out, 10)


def test_short_demo_on_real_caffe(pycaffe, tmp_path):
    out = tmp_path / 'demo'
    stdout = demo(out, '--iters', '10', '--backend', 'caffe', env=refcaffe.env())
    check_outputs(out, 10)
    final_mean_iu(stdout, out)


def test_demo_refuses_a_used_output_directory(tmp_path):
    (tmp_path / 'keep.txt').write_text('mine')
    r = subprocess.run([sys.executable, '-m', 'fcn', 'demo', '--out', str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'is not empty' in r.stderr
    assert os.listdir(tmp_path) == ['keep.txt']


def test_full_demo_reaches_mean_iu_of_at_least_0_7(tmp_path):
    """The demo's promise; about a minute on 2 idle cores."""
    out = tmp_path / 'demo'
    assert final_mean_iu(demo(out), out) >= 0.7
