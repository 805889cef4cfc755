"""The checks that need a CUDA machine, in one run of under 8 minutes, with one report.

Runs this checkout in place (PYTHONPATH, no install, no network) with the python that
runs it, which must already hold what the steps import: it checks that first and says
what is missing. Steps (each a command with a time limit; --steps picks some):

  versions  PyTorch >= 2.11 built for CUDA 13 with a GPU, and the other modules
  parity    the golden cases of real Caffe on CUDA, and CUDA against CPU (tests/engine -k cuda)
  bench     bench's CUDA rows for FCN-8s: fp32, TF32, bf16; forward and a training iteration
  solve     20 iterations of voc-fcn8s/solve.py on the GPU, on synthetic data
  torchrun  a 2-process data-parallel step (NCCL on two GPUs, gloo on the CPU with one)

    scripts/gpu_check.sh --out gpu-report        # everything -> gpu-report/gpu-check.{md,json}
    scripts/gpu_check.sh --dry-run               # the plan, nothing run
"""
import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ('versions', 'parity', 'bench', 'solve', 'torchrun')
MODULES = {'torch': '2.11', 'numpy': '1.23', 'google.protobuf': '7.34', 'PIL': '9', 'scipy': '1.9',
           'matplotlib': '3.5', 'onnx': '1.16', 'onnxruntime': '1.17', 'pytest': '7'}
CUDA_MAJOR = '13'


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='gpu-check-report', help='report directory (default: %(default)s)')
    p.add_argument('--steps', nargs='+', choices=STEPS, default=list(STEPS), help='the steps to run (default: all)')
    p.add_argument('--dry-run', action='store_true', help='write the plan as the report, run nothing')
    return p.parse_args(argv)


def version_problems():
    """(found {module: version}, problems): what is missing or too old, and CUDA."""
    found, problems = {}, []
    for name, least in MODULES.items():
        try:
            module = importlib.import_module(name)
        except ImportError:
            problems.append('%s is missing (need %s or newer)' % (name, least))
            continue
        found[name] = getattr(module, '__version__', '?')
        if _older(found[name], least):
            problems.append('%s %s is older than %s' % (name, found[name], least))
    if 'torch' in found:
        import torch
        found['torch CUDA'] = torch.version.cuda or 'none'
        if not (torch.version.cuda or '').startswith(CUDA_MAJOR + '.'):
            problems.append('torch is built for CUDA %s, not %s' % (torch.version.cuda or 'none', CUDA_MAJOR))
        elif not torch.cuda.is_available():
            problems.append('torch sees no GPU (driver, or CUDA_VISIBLE_DEVICES)')
        else:
            found['GPUs'] = ', '.join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return found, problems


def _older(version, least):
    def numbers(v):
        return [int(''.join(c for c in part if c.isdigit()) or 0) for part in v.split('+')[0].split('.')[:3]]
    return numbers(version) < numbers(least)


def commands(work, gpus):
    """{step: (argv, seconds allowed, environment additions)} for the steps after versions."""
    py = sys.executable
    data = os.path.join(work, 'data')
    solve = [py, os.path.join(ROOT, 'voc-fcn8s', 'solve.py'), '--weights', 'none', '--data-root', data,
             '--display', '5']
    parallel = ['--gpu', '0'] if gpus >= 2 else []  # one GPU: both replicas on the CPU (gloo)
    return {
        'parity': ([py, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', os.path.join(ROOT, 'tests', 'engine'),
                    '-k', 'cuda'], 200, {'FCN_NO_PYCAFFE': '1'}),
        'bench': ([py, '-m', 'fcn.bench', '--nets', 'FCN-8s', '--configs', 'torch-cuda', 'torch-cuda-tf32',
                   'torch-cuda-bf16', '--trials', '5', '--warmup', '2', '--out', os.path.join(work, 'bench')],
                  150, {}),
        'solve': (solve + ['--gpu', '0', '--iters', '20', '--score-every', '20', '--out', os.path.join(work, 'solve')],
                  60, {}),
        'torchrun': ([py, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2'] + solve[1:]
                     + parallel + ['--iters', '2', '--score-every', '2', '--out', os.path.join(work, 'torchrun')],
                     60, {'OMP_NUM_THREADS': '1'}),
    }


def synthetic_data(work):
    """Synthetic PASCAL VOC and SBD under work/data, for the training steps."""
    from fcn import synthetic
    for dataset in ('voc', 'sbd'):
        synthetic.main([dataset, '--out', os.path.join(work, 'data'), '--n', '8', '--size', '64', '64'])


def run_step(argv, seconds, env):
    """{status, seconds, tail} of one step's command."""
    start = time.time()
    try:
        r = subprocess.run(argv, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, **env), capture_output=True,
                           text=True, timeout=seconds)
        status, output = ('pass' if r.returncode == 0 else 'fail (exit %d)' % r.returncode), r.stdout + r.stderr
    except subprocess.TimeoutExpired as e:
        status = 'fail (over %d s)' % seconds
        output = ''.join(x.decode() if isinstance(x, bytes) else (x or '') for x in (e.stdout, e.stderr))
    return {'status': status, 'seconds': round(time.time() - start, 1), 'tail': output[-3000:]}


def report(out, results, found, problems):
    """Write out/gpu-check.json and .md; return the markdown."""
    os.makedirs(out, exist_ok=True)
    machine = '%s, Python %s' % (platform.node(), platform.python_version())
    with open(os.path.join(out, 'gpu-check.json'), 'w') as f:
        json.dump({'machine': machine, 'versions': found, 'problems': problems, 'steps': results}, f, indent=1)
    lines = ['# GPU check', '', 'Machine: %s' % machine, '',
             'Versions: %s' % (', '.join('%s %s' % kv for kv in found.items()) or 'none found')]
    lines += ['', 'Problems: %s' % '; '.join(problems)] if problems else []
    lines += ['', '| step | status | seconds | command |', '|---|---|---|---|']
    lines += ['| %s | %s | %s | `%s` |' % (name, r['status'], r.get('seconds', '-'), ' '.join(r.get('argv', [])))
              for name, r in results.items()]
    for name, r in results.items():
        if r.get('tail'):
            lines += ['', '## %s' % name, '', '```', r['tail'].rstrip(), '```']
    text = '\n'.join(lines) + '\n'
    with open(os.path.join(out, 'gpu-check.md'), 'w') as f:
        f.write(text)
    return text


def main(argv=None):
    args = parse_args(argv)
    found, problems = version_problems()
    results = {'versions': {'status': 'fail' if problems else 'pass'}}
    gpus = 0
    if not problems:
        import torch
        gpus = torch.cuda.device_count()
    work = tempfile.mkdtemp(prefix='gpu-check-')
    planned = commands(work, gpus)
    ready = args.dry_run or not problems
    for step in [s for s in args.steps if s != 'versions']:
        argv_, seconds, env = planned[step]
        if args.dry_run or not ready:
            results[step] = {'status': 'planned' if args.dry_run else 'skipped (versions)', 'argv': argv_}
            continue
        if step in ('solve', 'torchrun') and not os.path.isdir(os.path.join(work, 'data')):
            synthetic_data(work)
        print('%s ...' % step, end=' ', flush=True)
        results[step] = dict(run_step(argv_, seconds, env), argv=argv_)
        print(results[step]['status'], flush=True)
    print(report(args.out, results, found, problems))
    print('report: %s' % os.path.join(os.path.abspath(args.out), 'gpu-check.md'))
    return 0 if args.dry_run or all(r['status'] == 'pass' for r in results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
