"""scripts/docker/entrypoint.sh, the image's entrypoint, run here with a stand-in `python`
that answers whether torch sees a GPU: --gpu N dropped with a message when none is
visible, kept when one is, and solve.py's /out directory made."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENTRYPOINT = os.path.join(ROOT, 'scripts', 'docker', 'entrypoint.sh')


def run(tmp_path, args, gpu):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / 'python'
    fake.write_text('#!/bin/sh\nexit %d\n' % (0 if gpu else 1))  # torch.cuda.is_available()
    fake.chmod(0o755)
    env = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ['PATH']))
    return subprocess.run(['sh', ENTRYPOINT, 'printf', '%s|'] + args, env=env,
                          capture_output=True, text=True, check=True)


def test_without_a_gpu_the_gpu_argument_goes_with_a_message(tmp_path):
    r = run(tmp_path, ['fcn', 'demo', '--gpu', '0', '--out', '/out/x'], gpu=False)
    assert r.stdout == 'fcn|demo|--out|/out/x|'
    assert 'no GPU visible' in r.stderr and 'running on the CPU' in r.stderr
    r = run(tmp_path, ['python', 'voc-fcn8s/solve.py', '--gpu=1', '--data-root', '/data'], gpu=False)
    assert r.stdout == 'python|voc-fcn8s/solve.py|--data-root|/data|'


def test_with_a_gpu_or_without_the_argument_nothing_changes(tmp_path):
    args = ['fcn', 'demo', '--gpu', '0', '--iters', '5']
    r = run(tmp_path, args, gpu=True)
    assert r.stdout == '|'.join(args) + '|' and r.stderr == ''
    r = run(tmp_path, ['fcn', 'demo', '--iters', '5'], gpu=False)
    assert r.stdout == 'fcn|demo|--iters|5|' and r.stderr == ''


def test_solve_py_gets_its_output_directory_behind_the_snapshot_link(tmp_path):
    # In the image /fcn/<exp>/snapshot -> /out/<exp>; here the same links in a scratch tree.
    fcn_dir = tmp_path / 'fcn'
    (fcn_dir / 'voc-fcn8s').mkdir(parents=True)
    target = tmp_path / 'out' / 'voc-fcn8s'
    os.symlink(target, fcn_dir / 'voc-fcn8s' / 'snapshot')
    text = open(ENTRYPOINT).read().replace('link=/fcn/', 'link=%s/' % fcn_dir)
    script = tmp_path / 'entrypoint.sh'
    script.write_text(text)
    subprocess.run(['sh', str(script), 'true', 'voc-fcn8s/solve.py'], check=True)
    assert target.is_dir()
