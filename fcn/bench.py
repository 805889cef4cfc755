#!/usr/bin/env python
"""Benchmark FCNs as the paper's Table 1 does, on every backend available, in one run.

Protocol: a 500 x 500 input, warm-up, then the mean of 20 timed trials of a forward
pass for FCN-AlexNet, FCN-VGG16 (32s), FCN-8s and FCN-GoogLeNet, and of a training
iteration (forward, backward, heavy-momentum SGD update, batch 1) for FCN-8s.
Reported per configuration: mean, median and min time, images/s, peak memory, FLOPs
of a forward (counted from the net: multiply-adds x 2 of convolutions, deconvolutions
and inner products), the FLOP/s achieved and its fraction of the machine's fp32 peak
(the best of a large matrix product and a 3 x 3 convolution, measured first; the count
is a direct convolution's, so a configuration that does less arithmetic, skipping
repeated windows or by Winograd's algorithm, can pass 100%); ratios against Caffe on
the same device.
Each measurement runs in its own process, so peak memory is its own. The peers run
the same net with the same weights as fcn export writes it: the plain PyTorch module
(eager and torch.compile; it also trains), onnxruntime and OpenCV's dnn on the ONNX
file, and OpenCV's Caffe importer where the installed OpenCV still has one.

    fcn bench                            # everything available -> bench/results.{json,md,png}
    fcn bench --nets FCN-8s --trials 5 --configs torch-cpu caffe-cpu onnxruntime-cpu
    fcn bench --nets FCN-8s --tasks forward --batches 1 4 16    # throughput
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from fcn import REPO

NETS = {'FCN-AlexNet': 'voc-fcn-alexnet', 'FCN-VGG16': 'voc-fcn32s', 'FCN-8s': 'voc-fcn8s',
        'FCN-GoogLeNet': 'voc-fcn-googlenet'}
TRAIN_NET = 'FCN-8s'
# backend, device, torchcaffe speed settings
CONFIGS = {
    'torch-cpu': ('torch', 'cpu', {}),  # the default: channels_last, repeats skipped, memory reused
    'torch-cpu-strict': ('torch', 'cpu', {'strict': True}),  # Caffe's order: NCHW, memory returned
    'torch-cpu-bf16': ('torch', 'cpu', {'precision': 'bf16'}),
    'torch-cuda': ('torch', 'cuda', {}),
    'torch-cuda-tf32': ('torch', 'cuda', {'precision': 'tf32', 'cudnn_benchmark': True}),
    'torch-cuda-bf16': ('torch', 'cuda', {'precision': 'bf16', 'cudnn_benchmark': True,
                                          'channels_last': True}),
    'caffe-cpu': ('caffe', 'cpu', {}),
    'caffe-cuda': ('caffe', 'cuda', {}),
    # peers, on the net exported by fcn export (same weights): plain PyTorch, onnxruntime, OpenCV
    'export-torch-cpu': ('export', 'cpu', {}),
    'export-torch-cpu-compile': ('export', 'cpu', {'compile': True}),
    'onnxruntime-cpu': ('onnxruntime', 'cpu', {}),
    'opencv-onnx-cpu': ('opencv-onnx', 'cpu', {}),
    'opencv-caffe-cpu': ('opencv-caffe', 'cpu', {}),  # OpenCV 4's Caffe importer (gone in OpenCV 5)
}
PEERS = ('export', 'onnxruntime', 'opencv-onnx', 'opencv-caffe')
TRAINS = ('torch', 'caffe', 'export')  # the backends that run a training iteration
HEAVY_SGD = 'base_lr: 1e-10\nlr_policy: "fixed"\nmomentum: 0.99\nweight_decay: 0.0005\n'


def flops(net):
    """FLOPs of one forward: 2 x multiply-adds of Convolution, Deconvolution, InnerProduct."""
    total = 0
    for name, layer in net.layer_dict.items():
        if layer.type not in ('Convolution', 'Deconvolution', 'InnerProduct'):
            continue
        weight = net.params[name][0].data
        per_output = weight[0].size  # inputs (per group) x kernel
        if layer.type == 'Deconvolution':  # each input value scatters into C_out/g x k x k outputs
            total += 2 * net.blobs[net.bottom_names[name][0]].count * per_output
        else:
            total += 2 * net.blobs[net.top_names[name][0]].count * per_output
    return total


def sized_net(net_param, size, train, batch=1):
    """The experiment's deploy (or train, data layers as Inputs) net for a size x size input."""
    from nets.data import input_shapes, with_inputs
    if train:
        return with_inputs(net_param, input_shapes(size, size))
    for layer in net_param.layer:
        if layer.type == 'Input':
            for shape in layer.input_param.shape:
                shape.dim[0] = batch
                shape.dim[2:] = [size, size]
    return net_param


def fill_random(net, seed=0):
    rng = np.random.RandomState(seed)
    for blobs in net.params.values():
        for b in blobs:
            fan_in = max(1, int(np.prod(b.data.shape[1:])))
            b.data[...] = rng.randn(*b.data.shape).astype(np.float32) * np.sqrt(2.0 / fan_in)


def peak_rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def child(spec):
    """One measurement (in its own process): returns its result dict."""
    which = CONFIGS[spec['config']][0]
    run, sync = (peer if which in PEERS else engine)(spec)
    base_gpu = None
    cuda = CONFIGS[spec['config']][1] == 'cuda'
    if cuda:
        import torch
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.mem_get_info()
    for _ in range(spec['warmup']):
        run()
        sync()
    times = []
    for _ in range(spec['trials']):
        t = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t)
    result = dict(spec, times=times, peak_rss_mb=peak_rss_mb())
    if cuda:
        import torch
        if which == 'caffe':  # Caffe keeps what it allocated: device memory in use after the run
            free, total = torch.cuda.mem_get_info()
            result['peak_gpu_mb'] = (base_gpu[0] - free) / 2 ** 20
        else:
            result['peak_gpu_mb'] = torch.cuda.max_memory_allocated() / 2 ** 20
    return result


def engine(spec):
    """(run, sync) of a torchcaffe or pycaffe net: a forward, or a solver step."""
    from fcn import backend
    from torchcaffe.formats import prototxt, read_net
    name, config, task, size, batch = (spec[k] for k in ('net', 'config', 'task', 'size', 'batch'))
    which, dev, settings = CONFIGS[config]
    caffe = backend.load(which)
    cuda = dev == 'cuda'
    sync = (lambda: None)
    if cuda:
        caffe.set_mode_gpu()
        caffe.set_device(0)
    else:
        caffe.set_mode_cpu()
    if which == 'torch':
        import torch
        for key, value in settings.items():
            getattr(caffe, 'set_' + key)(value)
        if cuda:
            sync = torch.cuda.synchronize
    experiment = os.path.join(REPO, NETS[name])
    source = 'train.prototxt' if task == 'train' else 'deploy.prototxt'
    work = tempfile.mkdtemp(prefix='bench-')
    net_path = os.path.join(work, 'net.prototxt')
    prototxt.write(net_path, sized_net(read_net(os.path.join(experiment, source)), size, task == 'train', batch))
    if task == 'train':
        solver_path = os.path.join(work, 'solver.prototxt')
        with open(solver_path, 'w') as f:
            f.write('net: "%s"\n%s' % (net_path, HEAVY_SGD))
        solver = caffe.get_solver(solver_path)
        net = solver.net
        rng = np.random.RandomState(0)
        net.blobs['label'].data[...] = rng.randint(0, 21, net.blobs['label'].data.shape)
        run = lambda: solver.step(1)  # noqa: E731
    else:
        net = caffe.Net(net_path, caffe.TEST)
        out = net.outputs[0]
        run = lambda: net.forward()[out][0, 0, 0, 0]  # reading the output waits for the device  # noqa: E731
    fill_random(net)
    net.blobs['data'].data[...] = image(net.blobs['data'].data.shape)
    return run, sync


def image(shape):
    return np.random.RandomState(1).uniform(-120, 120, shape).astype(np.float32)


def peer(spec):
    """(run, sync) of a peer on the net fcn export wrote to ``spec['exported']``."""
    which, _, settings = CONFIGS[spec['config']]
    shape = (spec['batch'], 3, spec['size'], spec['size'])
    x = image(shape)
    threads = os.cpu_count()
    if which == 'onnxruntime':
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        session = onnxruntime.InferenceSession(os.path.join(spec['exported'], 'model.onnx'), options,
                                               providers=['CPUExecutionProvider'])
        return (lambda: session.run(None, {'data': x})), (lambda: None)
    if which.startswith('opencv'):
        import cv2
        cv2.setNumThreads(threads)
        if which == 'opencv-onnx':
            net = cv2.dnn.readNetFromONNX(os.path.join(spec['exported'], 'model.onnx'))
        else:
            net = cv2.dnn.readNetFromCaffe(os.path.join(spec['exported'], 'deploy.prototxt'),
                                           os.path.join(spec['exported'], 'weights.caffemodel'))

        def run():
            net.setInput(x)
            return net.forward()
        return run, (lambda: None)
    import importlib.util
    import torch
    path = os.path.join(spec['exported'], 'model.py')
    module_spec = importlib.util.spec_from_file_location('exported', path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)  # written by fcn export for this run
    model = module.Net()
    model.load_state_dict(torch.load(os.path.join(spec['exported'], 'weights.pt'), weights_only=True))
    forward = torch.compile(model) if settings.get('compile') else model
    data = torch.from_numpy(x)
    if spec['task'] == 'forward':
        model.eval()

        def run():
            with torch.no_grad():
                return forward(data)
        return run, (lambda: None)
    # Caffe's step: SoftmaxWithLoss summed over pixels (normalize: false), heavy-momentum SGD
    model.train()
    label = torch.from_numpy(np.random.RandomState(0).randint(0, 21, (shape[0],) + shape[2:]))
    sgd = torch.optim.SGD(model.parameters(), lr=1e-10, momentum=0.99, weight_decay=5e-4)

    def run():
        sgd.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(data), label, ignore_index=255, reduction='sum')
        loss.backward()
        sgd.step()
        return loss
    return run, (lambda: None)


def available(configs):
    """The configurations this machine can run, probed in child processes."""
    probe = {'torch-cuda': 'import torch; assert torch.cuda.is_available()',
             'caffe-cpu': 'from fcn import backend; backend.load("caffe")',
             'caffe-cuda': 'from fcn import backend; c = backend.load("caffe"); c.set_mode_gpu(); '
                           'import torch; assert torch.cuda.is_available()',
             'onnxruntime-cpu': 'import onnx, onnxruntime',
             'opencv-onnx-cpu': 'import onnx, cv2; cv2.dnn.readNetFromONNX',
             'opencv-caffe-cpu': 'import cv2; cv2.dnn.readNetFromCaffe'}
    works = {}
    for config in configs:
        which, dev, _ = CONFIGS[config]
        key = '%s-%s' % (which, dev)
        if key not in works:
            works[key] = key not in probe or subprocess.run(
                [sys.executable, '-c', probe[key]], cwd=REPO, capture_output=True,
                env=dict(os.environ, GLOG_minloglevel='2')).returncode == 0
    return [c for c in configs if works['%s-%s' % CONFIGS[c][:2]]]


def measure(spec):
    """Run ``child`` for ``spec`` in a new process; returns its result (or the error)."""
    r = subprocess.run([sys.executable, '-m', 'fcn.bench', '--child', json.dumps(spec)],
                       cwd=REPO, capture_output=True, text=True, env=dict(os.environ, GLOG_minloglevel='2'))
    lines = [l for l in r.stdout.splitlines() if l.startswith('{')]
    if r.returncode != 0 or not lines:
        why = (r.stderr.strip().splitlines() or ['failed (exit %d)' % r.returncode])[-1]
        if r.returncode < 0:  # the kernel's OOM killer leaves no message of its own
            why = 'killed by signal %d%s' % (-r.returncode, ' (out of memory?)' if r.returncode == -9 else '')
        return dict(spec, error=why)
    return json.loads(lines[-1])


def pool(earlier, r):
    """One configuration's result over rounds: the trials together, the highest peaks; an
    error in any round stands."""
    if earlier is None or 'error' in earlier:
        return earlier or r
    if 'error' in r:
        return r
    merged = dict(r, times=earlier['times'] + r['times'])
    for key in ('peak_rss_mb', 'peak_gpu_mb'):
        if key in r:
            merged[key] = max(earlier[key], r[key])
    return merged


def summarize(results, flop_counts, peak_gflops=None):
    """Add mean/median/min seconds, and from the median images/s, GFLOP/s (and its
    fraction of the machine's fp32 ``peak_gflops``) and ratios vs Caffe on the same
    device and batch."""
    for r in results:
        if 'times' not in r:
            continue
        t = np.array(r['times'])
        r.update(mean_s=float(t.mean()), median_s=float(np.median(t)), min_s=float(t.min()))
        f = flop_counts[r['net']] * r['batch'] * (3 if r['task'] == 'train' else 1)  # backward ~ 2 forwards
        r.update(images_per_s=r['batch'] / r['median_s'], gflop=f / 1e9, gflops_per_s=f / 1e9 / r['median_s'])
        if peak_gflops:
            r['of_peak'] = r['gflops_per_s'] / peak_gflops
    for r in results:
        dev = CONFIGS[r['config']][1]
        ref = [x for x in results if x['config'] == 'caffe-' + dev and x['net'] == r['net']
               and x['task'] == r['task'] and x['batch'] == r['batch'] and 'median_s' in x]
        if ref and 'median_s' in r:
            r['speedup_vs_caffe'] = ref[0]['median_s'] / r['median_s']
    return results


def measured_peak():
    """The machine's fp32 GFLOP/s as its best dense kernels reach it (torch, all cores): the
    faster of a 2048 x 2048 matrix product and a 3 x 3 convolution of 256 channels in
    channels_last (oneDNN; on some CPUs it outruns the BLAS), each the median of 8."""
    import torch
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 256, 128, 128).to(memory_format=torch.channels_last)
    rates = []
    with torch.no_grad():
        for run, flop in ((lambda: a @ b, 2 * 2048 ** 3), (lambda: conv(x), 2 * 256 * 256 * 9 * 128 * 128)):
            for _ in range(3):
                run()
            times = []
            for _ in range(8):
                t = time.perf_counter()
                run()
                times.append(time.perf_counter() - t)
            rates.append(flop / float(np.median(times)) / 1e9)
    return max(rates)


def export_for_peers(name, size, work):
    """The net ``name`` with bench's random weights, as fcn export writes it (model.py,
    weights.pt, model.onnx) and as a Caffe pair for OpenCV's importer, in a new directory."""
    import torchcaffe
    from fcn import exporter
    from torchcaffe.formats import prototxt, read_net
    directory = os.path.join(work, NETS[name])
    os.makedirs(directory)
    param = sized_net(read_net(os.path.join(REPO, NETS[name], 'deploy.prototxt')), size, False)
    prototxt.write(os.path.join(directory, 'deploy.prototxt'), param)
    net = torchcaffe.Net(param, torchcaffe.TEST)
    fill_random(net)
    net.save(os.path.join(directory, 'weights.caffemodel'))
    for fmt in ('pytorch', 'onnx'):
        for path in exporter.export(net, out=os.path.join(work, fmt), format=fmt):
            os.rename(path, os.path.join(directory, os.path.basename(path)))
        os.rmdir(os.path.join(work, fmt))
    return directory


def markdown(results, machine, peak_gflops=None):
    lines = ['Machine: %s%s' % (machine, '; measured fp32 peak %.0f GFLOP/s' % peak_gflops
                                if peak_gflops else ''), '',
             '| net | task | config | batch | mean s | median s | min s | images/s | peak RSS MB | peak GPU MB '
             '| GFLOP | GFLOP/s | of peak | x Caffe |', '|' + '---|' * 14]
    for r in results:
        if 'error' in r:
            lines.append('| %s | %s | %s | %d | error: %s |||||||||| ' % (
                r['net'], r['task'], r['config'], r['batch'], r['error']))
            continue
        lines.append('| %s | %s | %s | %d | %.3f | %.3f | %.3f | %.2f | %.0f | %s | %.1f | %.1f | %s | %s |' % (
            r['net'], r['task'], r['config'], r['batch'], r['mean_s'], r['median_s'], r['min_s'],
            r['images_per_s'], r['peak_rss_mb'], '%.0f' % r['peak_gpu_mb'] if 'peak_gpu_mb' in r else '-',
            r['gflop'], r['gflops_per_s'], '%.0f%%' % (100 * r['of_peak']) if 'of_peak' in r else '-',
            '%.2f' % r['speedup_vs_caffe'] if 'speedup_vs_caffe' in r else '-'))
    return '\n'.join(lines) + '\n'


def cpu_name():
    """The CPU's model name (/proc/cpuinfo on Linux, else what the platform says)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def machine_description():
    import torch
    desc = '%s %s (torch CPU kernels: %s), %d CPU cores, Python %s, torch %s' % (
        platform.machine(), cpu_name(), torch.backends.cpu.get_cpu_capability(), os.cpu_count(),
        platform.python_version(), torch.__version__)
    if torch.cuda.is_available():
        desc += ', %s' % torch.cuda.get_device_name(0)
    return desc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--nets', nargs='+', default=list(NETS), choices=list(NETS))
    p.add_argument('--configs', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument('--tasks', nargs='+', default=['forward', 'train'], choices=['forward', 'train'])
    p.add_argument('--size', type=int, default=500)
    p.add_argument('--batches', nargs='+', type=int, default=[1],
                   help='forward batch sizes (throughput: images/s); a training iteration is batch 1')
    p.add_argument('--trials', type=int, default=20, help='timed runs per configuration and round')
    p.add_argument('--rounds', type=int, default=1,
                   help='measure every configuration this many times, in turn, so that a passing load '
                        'on the machine falls on all of them (their trials are pooled)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--out', default=os.path.join(REPO, 'bench'))
    p.add_argument('--child', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child)) if args.child != 'peak' else measured_peak()))
        return
    import torchcaffe
    from torchcaffe.formats import read_net
    configs = available(args.configs)
    print('configurations: %s' % ', '.join(configs))
    r = subprocess.run([sys.executable, '-m', 'fcn.bench', '--child', 'peak'], cwd=REPO, capture_output=True,
                       text=True)
    peak = float(r.stdout.split()[-1])
    print('fp32 peak (measured): %.0f GFLOP/s' % peak)
    flop_counts = {}
    for name in args.nets:
        param = sized_net(read_net(os.path.join(REPO, NETS[name], 'deploy.prototxt')), args.size, False)
        flop_counts[name] = flops(torchcaffe.Net(param, torchcaffe.TEST))
    exported = {}
    if any(CONFIGS[c][0] in PEERS for c in configs):
        work = tempfile.mkdtemp(prefix='bench-export-')
        for name in args.nets:
            print('exporting %s for the peers (fcn export) ...' % name, flush=True)
            exported[name] = export_for_peers(name, args.size, work)
    specs = [dict(net=n, config=c, task=t, size=args.size, batch=b, trials=args.trials, warmup=args.warmup,
                  exported=exported.get(n))
             for t in args.tasks for n in args.nets if t == 'forward' or n == TRAIN_NET
             for b in (args.batches if t == 'forward' else [1])
             for c in configs if t == 'forward' or CONFIGS[c][0] in TRAINS]
    results = [None] * len(specs)
    for k in range(args.rounds):
        for i, spec in enumerate(specs):
            print('[round %d/%d, %d/%d] %s %s %s batch %d ...' % (
                k + 1, args.rounds, i + 1, len(specs), spec['net'], spec['task'], spec['config'], spec['batch']),
                end=' ', flush=True)
            r = measure(spec)
            print(r.get('error') or 'median %.3f s' % np.median(r['times']), flush=True)
            results[i] = pool(results[i], r)
    summarize(results, flop_counts, peak)
    os.makedirs(args.out, exist_ok=True)
    machine = machine_description()
    with open(os.path.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(machine=machine, size=args.size, trials=args.trials, rounds=args.rounds, peak_gflops=peak,
                       results=results),
                  f, indent=1)
    table = markdown(results, machine, peak)
    with open(os.path.join(args.out, 'results.md'), 'w') as f:
        f.write(table)
    from fcn import charts
    charts.bars(os.path.join(args.out, 'results.png'), 'median seconds (%dx%d, %d trials)' % (
        args.size, args.size, args.trials * args.rounds),
        {'%s %s %s%s' % (r['net'], r['task'], r['config'], ' x%d' % r['batch'] if r['batch'] > 1 else ''):
         r.get('median_s', float('nan')) for r in results},
        unit=' s')
    print(table)
    print('written: %s/results.{json,md,png}' % args.out)


if __name__ == '__main__':
    main()
