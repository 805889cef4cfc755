"""The Dockerfile, read as text (no Docker engine or CUDA image here; scripts/docker/rehearse.sh
builds and runs its CPU flavour): pinned bases and Caffe commit, the CUDA build of
scripts/build_pycaffe.sh, CUDA PyTorch, the project, a default command, and agreement with
the scripts it shares facts with."""
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
    """{stage name: (base image with ARGs substituted, [(INSTRUCTION, arguments)])}; the unnamed
    final stage is ''. ARG defaults apply (the CUDA flavour)."""
    args, result, current = {}, {}, None
    for op, rest in instructions(read('Dockerfile')):
        if op == 'ARG' and '=' in rest:
            name, value = rest.split('=', 1)
            args[name] = value
        if op == 'FROM':
            words = rest.split()
            image = re.sub(r'\$\{(\w+)\}', lambda m: args[m.group(1)], words[0])
            current = words[2] if len(words) == 3 and words[1].upper() == 'AS' else ''
            result[current] = (image, [])
        elif current is not None:
            result[current][1].append((op, re.sub(r'\$\{(\w+)\}', lambda m: args.get(m.group(1), m.group(0)), rest)))
    return result


def global_args():
    """The ARGs before the first FROM: the build arguments that choose base images and flavour."""
    text = read('Dockerfile').split('\nFROM ')[0]
    return dict(rest.split('=', 1) for op, rest in instructions(text) if op == 'ARG')


def runs(stage):
    return [rest for op, rest in stages()[stage][1] if op == 'RUN']


def cuda_version():
    major, minor = re.match(r'nvidia/cuda:(\d+)\.(\d+)\.\d+-', global_args()['CUDA_DEVEL']).groups()
    return int(major), int(minor)


def test_cuda_flavour_builds_on_a_pinned_devel_image_and_an_os_of_the_same_release():
    args = global_args()
    assert args['FLAVOUR'] == 'cuda'
    devel = re.match(r'nvidia/cuda:(\d+\.\d+\.\d+)-devel-ubuntu(\d+\.\d+)$', args['CUDA_DEVEL'])
    assert devel, args['CUDA_DEVEL']
    # Caffe is compiled against the devel image's Ubuntu libraries and the venv's Python:
    # the final image must be the same Ubuntu release.
    assert args['BASE'] == 'ubuntu:' + devel.group(2)
    s = stages()
    assert s['os'][0] == args['BASE'] and s['caffe-cuda'][0] == args['CUDA_DEVEL']
    assert s['caffe'][0] == 'caffe-' + args['FLAVOUR'] and {'caffe-cuda', 'caffe-cpu'} <= set(s)
    assert s[''][0] == 'os'  # not the CUDA runtime image: PyTorch's wheels bring CUDA once


def test_caffe_is_cloned_at_the_pinned_commit_and_built_with_cuda():
    caffe = stages()['caffe-cuda'][1]
    clone = [r for r in runs('caffe-cuda') if 'git clone' in r]
    assert len(clone) == 1 and 'https://github.com/BVLC/caffe.git' in clone[0]
    checkout = shlex.split(clone[0].split('&&')[1])
    assert checkout[:3] == ['git', '-C', '/opt/caffe-src'] and checkout[-1] == CAFFE_COMMIT
    assert ('COPY', 'scripts/build_pycaffe.sh /opt/build_pycaffe.sh') in caffe
    build, = [shlex.split(r.split('&&')[0]) for r in runs('caffe-cuda') if r.startswith('/opt/build_pycaffe.sh')]
    assert '--cuda' in build and build[build.index('--source') + 1] == '/opt/caffe-src'
    assert build[build.index('--python') + 1] == '/opt/venv/bin/python'
    assert ('COPY', '--from=venv /opt/venv /opt/venv') in caffe  # compiled against the final venv
    prefix = build[build.index('--prefix') + 1]
    final = stages()[''][1]
    assert ('COPY', '--from=caffe %s %s' % (prefix, prefix)) in final
    assert ('COPY', '--from=venv /opt/venv /opt/venv') in final
    env = ' '.join(rest for op, rest in final if op == 'ENV')
    assert 'FCN_PYCAFFE_PREFIX=%s' % prefix in env.split()  # where backend.py looks


def test_caffes_packages_come_from_the_tested_steps_and_nvcc_is_checked_first():
    cuda = runs('caffe-cuda')
    build = next(i for i, r in enumerate(cuda) if r.startswith('/opt/build_pycaffe.sh'))
    archs = next(i for i, r in enumerate(cuda) if 'steps.py archs' in r)
    assert archs < build and 'nvcc --list-gpu-arch' in cuda[archs]
    needed, = [r for r in cuda if 'steps.py needed' in r]
    assert '--provided /opt/venv' in needed and 'packages.txt' in needed
    # CUDA's libraries resolved where the final image finds them: the wheels' directories first
    assert needed.index('steps.py libdirs') < needed.index('LD_LIBRARY_PATH=') < needed.index('steps.py needed')
    install, = [r for r in runs('') if 'apt-get install' in r]
    assert 'steps.py install-list /opt/pycaffe/packages.txt' in install
    assert '$(cat' not in install and '2>/dev/null' not in install  # no hidden failures


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
    venv = stages()['venv'][1]
    args = dict(rest.split('=', 1) for op, rest in venv if op == 'ARG')
    assert args['TORCH_INDEX'] == 'https://download.pytorch.org/whl/cu%d%d' % cuda_version()
    install, = [r for op, r in venv if op == 'RUN' and 'python3 -m venv' in r]
    assert '--index-url "$TORCH_INDEX"' in install and 'steps.py requirements' in install
    setup_default = re.search(r'torch_spec=\$\{FCN_TORCH:-([^}]+)\}', read('scripts/setup.sh')).group(1)
    assert args['TORCH'] == setup_default  # one PyTorch version across the CPU and GPU installs


def test_project_is_copied_installed_and_runs_by_default():
    final = stages()[''][1]
    workdir = [rest for op, rest in final if op == 'WORKDIR']
    assert workdir and ('COPY', '. %s' % workdir[-1]) in final
    installs = [r for op, r in final if op == 'RUN' and 'pip install' in r and workdir[-1] in r]
    assert installs and '-e' in shlex.split(installs[0].split('&&')[0])
    entry = [rest for op, rest in final if op == 'ENTRYPOINT']
    assert entry == ['["fcn-entrypoint"]'] and 'scripts/docker/entrypoint.sh /usr/local/bin/fcn-entrypoint' in installs[0]
    cmd = [rest for op, rest in final if op == 'CMD']
    assert len(cmd) == 1 and cmd[0].startswith('[')  # exec form: signals reach Python
    words = re.findall(r'"([^"]*)"', cmd[0])
    assert words[0] == 'fcn' and words[1] in COMMANDS  # the console command pip installs


def test_outputs_go_to_out_and_weights_come_from_the_data_mount():
    final = ' '.join(runs(''))
    assert 'ln -s /out /fcn/out' in final  # the demo's default output directory
    assert 'ln -s /data/ilsvrc-nets /fcn/ilsvrc-nets' in final  # train.ILSVRC
    assert train.ILSVRC == os.path.join(ROOT, 'ilsvrc-nets')
    assert 'ln -s "/out/$exp" "/fcn/$exp/snapshot"' in final  # solve.py's default --out
    assert 'mkdir -m 1777 -p /out /data' in final  # any --user writes there
    env = ' '.join(rest for op, rest in stages()[''][1] if op == 'ENV').split()
    assert 'HOME=/tmp' in env and 'FCN_DATA_ROOT=/data' in env


def test_dockerignore_keeps_local_environments_outputs_data_and_weights_out():
    ignored = {line.strip() for line in read('.dockerignore').splitlines()
               if line.strip() and not line.startswith('#')}
    assert {'.git', '.venv', 'out', '*/snapshot', 'ilsvrc-nets', 'data/*/*', 'data/*.*', '*.caffemodel',
            '**/*.caffemodel'} <= ignored


def test_documented_usage_parses():
    argv = ['--data-root', '/data', '--gpu', '0', '--out', '/out/voc-fcn8s']
    header = read('Dockerfile').split('\nARG')[0]
    assert 'fcn \\\n#       python voc-fcn8s/solve.py ' + ' '.join(argv) in header
    args = train.parse_args('usage', argv)
    assert (args.data_root, args.gpu, args.out) == ('/data', 0, '/out/voc-fcn8s')
    for doc in ('docs/docker.md', 'README.md'):
        assert 'python voc-fcn8s/solve.py --data-root /data --gpu 0 --out /out/voc-fcn8s' in read(doc)
