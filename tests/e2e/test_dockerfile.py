"""The Dockerfile, read as text (no Docker engine runs here): pinned bases and Caffe
commit, the CUDA build of scripts/build_pycaffe.sh, CUDA PyTorch, the project, a
default command, and agreement with the scripts it shares facts with."""
import os
import re
import shlex

from fcn import train
from fcn.cli import COMMANDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAFFE_COMMIT = '9b891540183ddc834a02b2bd81b31afae71b2153'  # BVLC/caffe master, 2020-02-12
# CUDA toolkit versions (major, minor) that compile for each GPU architecture:
# sm_89 and sm_90 arrived in 11.8, sm_100 and sm_120 in 12.8; 13.0 dropped all before sm_75.
ARCH_SINCE = {75: (10, 0), 80: (11, 0), 86: (11, 1), 89: (11, 8), 90: (11, 8), 100: (12, 8), 120: (12, 8)}
ARCH_DROPPED = [((13, 0), 75)]  # from this toolkit on, architectures below this one are gone


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def instructions(text):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments left out."""
    joined = '\n'.join(line for line in text.splitlines() if not line.lstrip().startswith('#'))
    joined = joined.replace('\\\n', ' ')
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in joined.splitlines() if line.strip()]


def stages():
    """[(base image with ARGs substituted, stage name or None, [(INSTRUCTION, arguments)])]."""
    args, result = {}, []
    for op, rest in instructions(read('Dockerfile')):
        if op == 'ARG' and '=' in rest:
            name, value = rest.split('=', 1)
            args[name] = value
        if op == 'FROM':
            words = rest.split()
            image = re.sub(r'\$\{(\w+)\}', lambda m: args[m.group(1)], words[0])
            result.append((image, words[2] if len(words) == 3 and words[1].upper() == 'AS' else None, []))
        elif result:
            result[-1][2].append((op, re.sub(r'\$\{(\w+)\}', lambda m: args.get(m.group(1), m.group(0)), rest)))
    return result


def runs(stage):
    return [rest for op, rest in stage[2] if op == 'RUN']


def cuda_version():
    image = stages()[0][0]
    major, minor = re.match(r'nvidia/cuda:(\d+)\.(\d+)\.\d+-', image).groups()
    return int(major), int(minor)


def test_two_stages_on_pinned_nvidia_cuda_images_of_one_version():
    (build, name, _), (final, final_name, _) = stages()
    assert name == 'caffe' and final_name is None
    pinned = r'nvidia/cuda:(\d+\.\d+\.\d+)-(devel|runtime)-ubuntu(\d+\.\d+)$'
    b, f = re.match(pinned, build), re.match(pinned, final)
    assert b and f, (build, final)
    assert b.group(2) == 'devel' and f.group(2) == 'runtime'
    assert (b.group(1), b.group(3)) == (f.group(1), f.group(3))


def test_caffe_is_cloned_at_the_pinned_commit_and_built_with_cuda():
    caffe = stages()[0]
    clone = [r for r in runs(caffe) if 'git clone' in r]
    assert len(clone) == 1 and 'https://github.com/BVLC/caffe.git' in clone[0]
    checkout = shlex.split(clone[0].split('&&')[1])
    assert checkout[:3] == ['git', '-C', '/opt/caffe-src'] and checkout[-1] == CAFFE_COMMIT
    assert ('COPY', 'scripts/build_pycaffe.sh /opt/build_pycaffe.sh') in caffe[2]
    build, = [shlex.split(r.split('&&')[0]) for r in runs(caffe) if '/opt/build_pycaffe.sh' in r]
    assert build[0] == '/opt/build_pycaffe.sh' and '--cuda' in build
    assert build[build.index('--source') + 1] == '/opt/caffe-src'
    prefix = build[build.index('--prefix') + 1]
    final = stages()[1][2]
    assert ('COPY', '--from=caffe %s %s' % (prefix, prefix)) in final
    env = ' '.join(rest for op, rest in final if op == 'ENV')
    assert 'FCN_PYCAFFE_PREFIX=%s' % prefix in env.split()  # where backend.py looks


def test_build_script_options_used_by_the_image_exist():
    usage = read('scripts/build_pycaffe.sh').split('set -euo')[0]
    for option in ('--source DIR', '--cuda', '--python PY', '--prefix DIR'):
        assert option in usage


def test_caffe_architectures_compile_with_the_image_cuda():
    arch = re.search(r'^CUDA_ARCH="(.*)"$', read('scripts/build_pycaffe.sh'), re.M).group(1)
    arch += re.search(r'^CUDA_ARCH\+="(.*)"$', read('scripts/build_pycaffe.sh'), re.M).group(1)
    sms = sorted({int(sm) for sm in re.findall(r'sm_(\d+)', arch)})
    assert sms, arch
    cuda = cuda_version()
    for sm in sms:
        assert sm in ARCH_SINCE, 'sm_%d: add it to ARCH_SINCE' % sm
        assert cuda >= ARCH_SINCE[sm], 'CUDA %d.%d cannot compile sm_%d' % (cuda + (sm,))
        for version, lowest in ARCH_DROPPED:
            assert cuda < version or sm >= lowest, 'CUDA %d.%d dropped sm_%d' % (cuda + (sm,))


def test_torch_comes_from_the_cuda_index_of_the_image_cuda():
    final = stages()[1]
    installs = [shlex.split(r) for r in runs(final) if 'download.pytorch.org' in r]
    assert len(installs) == 1
    words = installs[0]
    index = words[words.index('--index-url') + 1]
    assert index == 'https://download.pytorch.org/whl/cu%d%d' % cuda_version()
    torch_arg = dict(rest.split('=', 1) for op, rest in final[2] if op == 'ARG')['TORCH']
    assert torch_arg in words
    setup_default = re.search(r'torch_spec=\$\{FCN_TORCH:-([^}]+)\}', read('scripts/setup.sh')).group(1)
    assert torch_arg == setup_default  # one PyTorch version across the CPU and GPU installs


def test_project_is_copied_installed_and_runs_by_default():
    final = stages()[1][2]
    workdir = [rest for op, rest in final if op == 'WORKDIR']
    assert workdir and ('COPY', '. %s' % workdir[-1]) in final
    installs = [r for op, r in final if op == 'RUN' and 'pip install' in r and workdir[-1] in r]
    assert installs and '-e' in shlex.split(installs[0])
    cmd = [rest for op, rest in final if op == 'CMD']
    assert len(cmd) == 1 and cmd[0].startswith('[')  # exec form: signals reach Python
    words = re.findall(r'"([^"]*)"', cmd[0])
    assert words[0] == 'fcn' and words[1] in COMMANDS  # the console command pip installs


def test_dockerignore_keeps_local_environments_and_outputs_out():
    ignored = {line.strip() for line in read('.dockerignore').splitlines()
               if line.strip() and not line.startswith('#')}
    assert {'.git', '.venv', 'out', '*/snapshot'} <= ignored


def test_documented_usage_parses():
    argv = ['--data-root', '/data', '--gpu', '0', '--out', '/data/runs/voc-fcn8s']
    header = read('Dockerfile').split('\nARG')[0]
    assert 'docker run --gpus all -v DATA:/data fcn python voc-fcn8s/solve.py ' + ' '.join(argv[:4]) in header
    args = train.parse_args('usage', argv)
    assert (args.data_root, args.gpu, args.out) == ('/data', 0, '/data/runs/voc-fcn8s')
