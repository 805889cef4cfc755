"""The image build's CUDA-only steps (scripts/docker/steps.py), run on fixtures of what
the CUDA devel image prints, since no CUDA image or Docker engine runs here: which Debian
packages the final image installs for Caffe, which GPU architectures nvcc must know, and
what the stage venv installs. scripts/docker/rehearse.sh builds and runs the CPU flavour."""
import importlib.util
import os
import re
import tomllib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location('steps', os.path.join(ROOT, 'scripts', 'docker', 'steps.py'))
steps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(steps)

VENV_NVIDIA = '/opt/venv/lib/python3.12/site-packages/nvidia/cu13/lib'
# ldd of the CUDA build's _caffe.so in the devel image (Ubuntu 24.04), the CUDA libraries
# resolved in the venv except cuRAND, which this fixture finds in the toolkit.
LDD = """\
/opt/pycaffe/python/caffe/_caffe.so:
\tlinux-vdso.so.1 (0x00007ffc3a5f2000)
\tlibcaffe.so.1.0.0 => /opt/pycaffe/python/caffe/../../lib/libcaffe.so.1.0.0 (0x00007f0e1c000000)
\tlibcudart.so.13 => %(venv)s/libcudart.so.13 (0x00007f0e1bc00000)
\tlibcublas.so.13 => %(venv)s/libcublas.so.13 (0x00007f0e15000000)
\tlibcurand.so.10 => /usr/local/cuda/lib64/libcurand.so.10 (0x00007f0e10000000)
\tlibcuda.so.1 => not found
\tlibglog.so.1 => /lib/x86_64-linux-gnu/libglog.so.1 (0x00007f0e1c3c2000)
\tlibboost_python312.so.1.83.0 => /lib/x86_64-linux-gnu/libboost_python312.so.1.83.0 (0x00007f0e1c381000)
\tlibpython3.12.so.1.0 => /lib/x86_64-linux-gnu/libpython3.12.so.1.0 (0x00007f0e0f800000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f0e0f400000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e0f000000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e1c5f4000)
/opt/pycaffe/lib/libcaffe.so.1.0.0:
\tlibcublas.so.13 => %(venv)s/libcublas.so.13 (0x00007f0e15000000)
\tlibglog.so.1 => /lib/x86_64-linux-gnu/libglog.so.1 (0x00007f0e1c3c2000)
""" % {'venv': VENV_NVIDIA}
# dpkg -S of those paths: Ubuntu 24.04 ships some files under /usr/lib, some under /lib.
DPKG_S = """\
libgoogle-glog0v6t64:amd64: /usr/lib/x86_64-linux-gnu/libglog.so.1
libboost-python1.83.0: /usr/lib/x86_64-linux-gnu/libboost_python312.so.1.83.0
libpython3.12t64:amd64: /usr/lib/x86_64-linux-gnu/libpython3.12.so.1.0
libstdc++6:amd64: /usr/lib/x86_64-linux-gnu/libstdc++.so.6
libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6
libcurand-13-0: /usr/local/cuda-13.0/targets/x86_64-linux/lib/libcurand.so.10.4.0.35
diversion by libc6 from: /lib64/ld-linux-x86-64.so.2
"""
CURAND_REAL = '/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcurand.so.10.4.0.35'


def realpath(path):
    """The devel image's links: /usr/local/cuda -> cuda-13.0, lib64 -> targets/.../lib."""
    return CURAND_REAL if path.endswith('libcurand.so.10') else path


def needed(ldd=LDD, dpkg=DPKG_S):
    return steps.needed_packages(steps.ldd_libraries(ldd), steps.dpkg_owners(dpkg),
                                 provided=['/opt/venv', '/opt/pycaffe'], realpath=realpath)


def test_packages_of_caffes_libraries_leave_out_the_venv_prefix_and_driver():
    assert needed() == ['libboost-python1.83.0', 'libc6', 'libcurand-13-0', 'libgoogle-glog0v6t64',
                        'libpython3.12t64', 'libstdc++6']


def test_ldd_lines_are_read_as_soname_and_path():
    libraries = steps.ldd_libraries(LDD)
    assert ('libcuda.so.1', None) in libraries
    assert ('libcublas.so.13', VENV_NVIDIA + '/libcublas.so.13') in libraries
    assert not any(name.startswith(('linux-vdso', '/lib64')) for name, _ in libraries)


def test_a_library_no_package_owns_is_an_error():
    ldd = LDD + '\tlibnccl.so.2 => /usr/local/nccl/lib/libnccl.so.2 (0x00007f0e0e000000)\n'
    with pytest.raises(steps.StepError, match=r'libnccl\.so\.2 .*no Debian package owns it'):
        needed(ldd)


def test_an_unowned_library_is_not_hidden_by_the_owned_ones():
    dpkg = '\n'.join(line for line in DPKG_S.splitlines() if 'libglog' not in line)
    with pytest.raises(steps.StepError, match='libglog.so.1'):
        needed(dpkg=dpkg)


def test_a_library_ldd_cannot_find_is_an_error_unless_the_driver_brings_it():
    with pytest.raises(steps.StepError, match=r'libcublasLt\.so\.13: not found'):
        needed(LDD + '\tlibcublasLt.so.13 => not found\n')


def test_install_list_leaves_out_the_bases_packages_and_held_ones():
    # The NVIDIA runtime image as BASE: it holds its cuBLAS (apt-mark hold) at another
    # version, and has libc6 and libstdc++6 of its own.
    want = needed() + ['libcublas-13-0']
    installed = ['libc6', 'libstdc++6', 'libcublas-13-0', 'python3']
    held = ['libcublas-13-0', 'libnccl2', 'libcurand-13-0']
    assert steps.install_list(want, installed, held) == [
        'libboost-python1.83.0', 'libgoogle-glog0v6t64', 'libpython3.12t64']
    # held but not installed: still left out (apt would refuse it)
    assert 'libcurand-13-0' not in steps.install_list(want, [], held)


def test_nvidia_libdirs_finds_the_wheels_library_directories(tmp_path):
    for d in ('lib/python3.12/site-packages/nvidia/cu13/lib', 'lib/python3.12/site-packages/nvidia/nccl/lib'):
        os.makedirs(tmp_path / d)
        (tmp_path / d / 'libx.so.13').write_text('')
    os.makedirs(tmp_path / 'lib/python3.12/site-packages/torch/lib')
    (tmp_path / 'lib/python3.12/site-packages/torch/lib/libtorch.so.2').write_text('')
    assert steps.nvidia_libdirs(str(tmp_path)) == [
        str(tmp_path / 'lib/python3.12/site-packages/nvidia/cu13/lib'),
        str(tmp_path / 'lib/python3.12/site-packages/nvidia/nccl/lib')]
    assert steps.nvidia_libdirs(str(tmp_path / 'lib/python3.12/site-packages/torch')) == []


# `nvcc --list-gpu-arch` of CUDA 13.0 (V13.0.88), as printed.
NVCC_13_0 = """compute_75
compute_80
compute_86
compute_87
compute_88
compute_89
compute_90
compute_100
compute_110
compute_103
compute_120
compute_121
"""
# CUDA 12.x's list, which still had Maxwell to Volta.
NVCC_12_8 = '\n'.join('compute_%d' % n for n in (50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90,
                                                   100, 101, 120)) + '\n'


def build_script_archs():
    text = open(os.path.join(ROOT, 'scripts', 'build_pycaffe.sh')).read()
    return ' '.join(re.findall(r'^CUDA_ARCH\+?="(.*)"$', text, re.M))


def test_the_caffe_architectures_compile_with_cuda_13_and_include_t4():
    archs = steps.check_archs(NVCC_13_0, build_script_archs())
    assert 75 in archs  # T4, RTX 20: "no kernel image" without it
    assert {80, 86, 89, 90} <= set(archs)


def test_an_architecture_nvcc_does_not_list_is_an_error():
    with pytest.raises(steps.StepError, match='sm_70'):
        steps.check_archs(NVCC_13_0, build_script_archs() + ' -gencode arch=compute_70,code=sm_70')
    with pytest.raises(steps.StepError, match='sm_121'):  # 12.8 did not know sm_121
        steps.check_archs(NVCC_12_8, '-gencode arch=compute_121,code=sm_121')
    with pytest.raises(steps.StepError, match='no compute_N'):
        steps.check_archs('nvcc fatal : Unknown option', build_script_archs())


def test_the_stage_venv_gets_pyprojects_dependencies_without_torch():
    with open(os.path.join(ROOT, 'pyproject.toml')) as f:
        text = f.read()
    deps = tomllib.loads(text)['project']['dependencies']
    got = steps.requirements(text)
    assert got == [d for d in deps if not d.startswith('torch')]
    names = {re.split(r'[<>=!~ ]', d, 1)[0] for d in got}
    assert {'numpy', 'protobuf'} <= names  # what `import caffe` needs in the build stage
    assert steps.requirements('[project]\ndependencies = ["torch>=2", "torchvision", "six"]\n') == [
        'torchvision', 'six']


def test_build_pycaffe_installs_the_host_compiler_before_asking_nvcc():
    text = open(os.path.join(ROOT, 'scripts', 'build_pycaffe.sh')).read()
    compiler = text.index('need_packages build-essential\n')
    assert text.index('need_packages() {') < compiler < text.index('nvcc" --dryrun')
