"""bench.py end to end at a toy size: every requested configuration measured in its own
process, ratios against Caffe when it is there, and the three reports written."""
import json
import os
import subprocess
import sys

import torch

import refcaffe
from fcn import bench as fcn_bench

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench(out, configs, *args):
    """Run bench.py on FCN-AlexNet's forward at 32 x 32; returns its rows by (config, task, batch)."""
    r = subprocess.run([sys.executable, '-m', 'fcn', 'bench', '--nets', 'FCN-AlexNet', '--tasks', 'forward',
                        '--size', '32', '--trials', '2', '--warmup', '1', '--out', str(out),
                        *args, '--configs'] + configs, cwd=ROOT, env=refcaffe.env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.load(open(out / 'results.json'))
    assert report['peak_gflops'] > 0
    rows = {(row['config'], row['task'], row['batch']): row for row in report['results']}
    assert {c for c, _, _ in rows} == set(configs)
    assert all('error' not in row for row in rows.values()), rows
    return rows


def test_bench_runs_the_peers_on_the_exported_net(tmp_path):
    """The exported module, onnxruntime and OpenCV on the ONNX file, at two batch sizes;
    throughput and the fraction of the machine's peak."""
    peers = ['export-torch-cpu', 'onnxruntime-cpu', 'opencv-onnx-cpu']
    rows = bench(tmp_path, peers, '--batches', '1', '2')
    for config in peers:
        one, two = rows[config, 'forward', 1], rows[config, 'forward', 2]
        assert two['gflop'] == 2 * one['gflop'] and two['images_per_s'] == 2 / two['median_s']
        assert 0 < one['of_peak'] == one['gflops_per_s'] / json.load(open(tmp_path / 'results.json'))['peak_gflops']
    table = (tmp_path / 'results.md').read_text()
    assert '| FCN-AlexNet | forward | onnxruntime-cpu | 2 |' in table and 'measured fp32 peak' in table


NET = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
        convolution_param { num_output: 21 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.01 } } }
'''
LOSS = '''
layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 1 dim: 1 dim: 16 dim: 16 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
        loss_param { normalize: false } }
'''


def test_the_exported_module_trains_as_a_peer(tmp_path):
    """A peer's training iteration on the exported module (eager and compiled) computes the
    engine's loss of FCN's train nets (SoftmaxWithLoss, normalize: false) on bench's data."""
    import numpy as np
    import torchcaffe
    from fcn import bench, exporter
    from google.protobuf import text_format

    def net(text):
        param = torchcaffe.proto.caffe_pb2.NetParameter()
        text_format.Merge(text, param)
        return torchcaffe.Net(param, torchcaffe.TEST)
    deploy = net(NET)
    exporter.export(deploy, out=tmp_path / 'net')
    train = net(NET + LOSS)
    train.copy_from_proto(deploy.to_proto())
    train.blobs['data'].data[...] = bench.image((1, 3, 16, 16))
    train.blobs['label'].data[...] = np.random.RandomState(0).randint(0, 21, (1, 16, 16))[:, None]
    expected = float(train.forward()['loss'])
    for config in ('export-torch-cpu', 'export-torch-cpu-compile'):
        run, sync = bench.peer(dict(config=config, task='train', size=16, batch=1, exported=str(tmp_path / 'net')))
        loss = float(run().detach())
        sync()
        assert abs(loss - expected) <= 1e-5 * expected, (config, loss, expected)


def test_bench_writes_its_reports(tmp_path):
    configs = ['torch-cpu', 'torch-cpu-strict', 'torch-cpu-bf16']
    for row in bench(tmp_path, configs, '--rounds', '2').values():
        assert row['batch'] == 1
        assert len(row['times']) == 4 and row['mean_s'] > 0 and row['peak_rss_mb'] > 0
        assert row['gflop'] > 0 and 'speedup_vs_caffe' not in row
    table = (tmp_path / 'results.md').read_text()
    assert all('| FCN-AlexNet | forward | %s | 1 |' % c in table for c in configs)
    assert '%s (torch CPU kernels: %s)' % (fcn_bench.cpu_name(), torch.backends.cpu.get_cpu_capability()) in table
    assert (tmp_path / 'results.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_bench_compares_with_caffe(tmp_path, pycaffe):
    rows = bench(tmp_path, ['torch-cpu', 'caffe-cpu'])
    torch_row, caffe_row = rows['torch-cpu', 'forward', 1], rows['caffe-cpu', 'forward', 1]
    assert torch_row['speedup_vs_caffe'] == caffe_row['median_s'] / torch_row['median_s']
    assert caffe_row['speedup_vs_caffe'] == 1


def test_rounds_pool_trials_and_keep_errors():
    a = dict(config='torch-cpu', times=[1.0, 2.0], peak_rss_mb=10.0)
    b = dict(config='torch-cpu', times=[3.0], peak_rss_mb=12.0)
    assert fcn_bench.pool(fcn_bench.pool(None, a), b) == dict(config='torch-cpu', times=[1.0, 2.0, 3.0],
                                                                peak_rss_mb=12.0)
    failed = dict(config='torch-cpu', error='out of memory')
    assert fcn_bench.pool(a, failed) == failed and fcn_bench.pool(failed, a) == failed


def test_a_killed_measurement_says_so(monkeypatch):
    """A child the kernel kills (out of memory, with no message of its own) is reported as such."""
    class Killed:
        returncode, stdout, stderr = -9, '', ''
    monkeypatch.setattr(fcn_bench.subprocess, 'run', lambda *a, **k: Killed())
    assert fcn_bench.measure(dict(config='torch-cpu'))['error'] == 'killed by signal 9 (out of memory?)'
