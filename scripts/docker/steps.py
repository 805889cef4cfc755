#!/usr/bin/env python3
"""The image build's steps that decide something, as functions the tests call
(tests/e2e/test_docker_steps.py); the Dockerfile runs them with this command line.
Only the standard library: it runs on the bare base images.

    steps.py requirements PYPROJECT         pyproject's dependencies, one a line, torch left out
    steps.py needed --provided DIR... FILE...
                                            the Debian packages owning the libraries that
                                            FILEs load (ldd + dpkg -S); error on one no package owns
    steps.py install-list PACKAGES_TXT      those not installed and not held here (apt-get install them)
    steps.py libdirs VENV                   directories of NVIDIA's wheel libraries in VENV
    steps.py archs NVCC_LIST GENCODE...     error unless nvcc (--list-gpu-arch output) knows every arch
"""
import glob
import os
import re
import subprocess
import sys

# Loaded at run time from the host's NVIDIA driver (the container toolkit mounts it),
# so no package of the image owns them; the devel image has only link stubs.
DRIVER_LIBRARIES = {'libcuda.so.1', 'libnvidia-ml.so.1'}


class StepError(Exception):
    """A build step that must stop the build; the message says what to fix."""


def requirements(pyproject_text):
    """The [project] dependencies of pyproject.toml text, without torch (its wheel comes
    from the flavour's own index: CUDA or CPU)."""
    import tomllib
    deps = tomllib.loads(pyproject_text)['project']['dependencies']
    return [d for d in deps if re.split(r'[<>=!~;\[ ]', d, 1)[0].lower() != 'torch']


def ldd_libraries(ldd_text):
    """[(soname, path or None)] of ldd output; path None for 'not found'. Headers of
    several files ('FILE:') and the vdso/loader lines without '=>' are skipped."""
    found = []
    for line in ldd_text.splitlines():
        m = re.match(r'\s+(\S+) => (not found|(/\S+))', line)
        if m:
            found.append((m.group(1), m.group(3)))
    return found


def usrmerge_aliases(path):
    """``path`` and its twin across Debian's merged /usr (/lib/x <-> /usr/lib/x): dpkg knows
    a file by the name its package shipped, which may be either."""
    for top in ('/lib', '/lib64', '/bin', '/sbin'):
        if path.startswith(top + '/'):
            return [path, '/usr' + path]
        if path.startswith('/usr' + top + '/'):
            return [path, path[4:]]
    return [path]


def needed_packages(libraries, owners, provided=(), realpath=os.path.realpath):
    """The sorted packages owning ``libraries`` ([(soname, path)], ldd_libraries'),
    ``owners`` {path: package} (dpkg -S's answers). Libraries under a ``provided``
    directory (the venv, Caffe's prefix) need no package; the driver's are mounted at
    run time. A library not found, or one no package owns, is an error."""
    packages, errors = set(), []
    for soname, path in dict.fromkeys(libraries):  # each library once, in order
        if path is None:
            if soname not in DRIVER_LIBRARIES:
                errors.append('%s: not found by ldd' % soname)
            continue
        names = [path, realpath(path)]
        if any(n.startswith(d.rstrip('/') + '/') for n in names for d in provided):
            continue
        candidates = [a for n in names for a in usrmerge_aliases(n)]
        owner = next((owners[c] for c in candidates if c in owners), None)
        if owner is None:
            errors.append('%s (%s): no Debian package owns it' % (soname, path))
        else:
            packages.add(owner)
    if errors:
        raise StepError('libraries without a package:\n  ' + '\n  '.join(errors))
    return sorted(packages)


def dpkg_owners(dpkg_s_text):
    """{path: package} of `dpkg -S PATH...` output ('pkg[:arch][, pkg2]: path'); diversions skipped."""
    owners = {}
    for line in dpkg_s_text.splitlines():
        if line.startswith('diversion ') or ': ' not in line:
            continue
        packages, path = line.split(': ', 1)
        owners[path.strip()] = packages.split(',')[0].strip().split(':')[0]
    return owners


def install_list(needed, installed, held):
    """The ``needed`` packages apt must install: not ``installed`` in this image already (the
    base's own libraries) and not ``held`` (NVIDIA's images hold their CUDA libraries, and
    apt refuses a held package that has a newer candidate)."""
    skip = set(installed) | set(held)
    return [p for p in needed if p.split(':')[0] not in skip]


def nvidia_libdirs(venv):
    """Directories under VENV's site-packages/nvidia holding shared libraries (cuBLAS, cuRAND,
    the CUDA runtime of PyTorch's CUDA wheels): Caffe loads its CUDA libraries from there."""
    pattern = os.path.join(venv, 'lib', 'python3*', 'site-packages', 'nvidia', '**', '*.so.*')
    return sorted({os.path.dirname(p) for p in glob.glob(pattern, recursive=True)})


def gencode_archs(gencode):
    """{N} of every compute_N and sm_N named in nvcc -gencode flags."""
    return {int(n) for n in re.findall(r'(?:compute|sm)_(\d+)', gencode)}


def check_archs(nvcc_list_text, gencode):
    """The architectures of ``gencode``, sorted; error when nvcc's --list-gpu-arch output
    does not list one of them (that nvcc would fail after a long compile, or a newer
    toolkit dropped a GPU we promise)."""
    known = {int(n) for n in re.findall(r'^compute_(\d+)\w*$', nvcc_list_text, re.M)}
    if not known:
        raise StepError('no compute_N lines in the nvcc --list-gpu-arch output')
    wanted = gencode_archs(gencode)
    missing = sorted(wanted - known)
    if missing:
        raise StepError('this nvcc cannot compile for %s (it knows %s)'
                        % (', '.join('sm_%d' % n for n in missing), ', '.join('sm_%d' % n for n in sorted(known))))
    return sorted(wanted)


def _run(argv):
    return subprocess.run(argv, capture_output=True, text=True)


def main(argv):
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__)
        return 0
    command, args = argv[0], argv[1:]
    if command == 'requirements':
        with open(args[0]) as f:
            print('\n'.join(requirements(f.read())))
    elif command == 'needed':
        provided = [args[i + 1] for i, a in enumerate(args) if a == '--provided']
        files = [a for i, a in enumerate(args) if a != '--provided' and (i == 0 or args[i - 1] != '--provided')]
        ldd = _run(['ldd'] + files)
        if ldd.returncode:
            raise StepError('ldd %s failed: %s' % (' '.join(files), ldd.stderr.strip()))
        libraries = ldd_libraries(ldd.stdout)
        paths = sorted({a for _, p in libraries if p for n in (p, os.path.realpath(p)) for a in usrmerge_aliases(n)})
        # dpkg -S exits 1 when any one path is unowned (expected for the aliases): read its answers.
        owners = dpkg_owners(_run(['dpkg', '-S'] + paths).stdout) if paths else {}
        print('\n'.join(needed_packages(libraries, owners, provided)))
    elif command == 'install-list':
        with open(args[0]) as f:
            needed = f.read().split()
        installed = _run(['dpkg-query', '-W', '-f', '${Package} ${db:Status-Status}\n']).stdout
        installed = [line.split()[0] for line in installed.splitlines() if line.endswith(' installed')]
        held = _run(['apt-mark', 'showhold']).stdout.split()
        print('\n'.join(install_list(needed, installed, held)))
    elif command == 'libdirs':
        dirs = nvidia_libdirs(args[0])
        if not dirs:
            raise StepError('no NVIDIA libraries under %s: is its torch a CUDA build?' % args[0])
        print('\n'.join(dirs))
    elif command == 'archs':
        with open(args[0]) as f:
            print(' '.join('sm_%d' % n for n in check_archs(f.read(), ' '.join(args[1:]))))
    else:
        raise StepError('unknown command %s (see --help)' % command)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except StepError as e:
        sys.exit('steps.py: error: %s' % e)
