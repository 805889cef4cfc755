"""A training run's directory belongs to one run: a lock while it trains, and a new run
never mixes with the log and snapshots of an earlier one."""
import contextlib
import glob
import json
import os
import shutil
import socket

LOCK = 'lock'
LOG_FILES = ('log.jsonl', 'log.csv', 'charts')  # fcn.runlog's


@contextlib.contextmanager
def lock(out):
    """Hold ``out``/lock (pid and host) while the block runs. A lock held by a live process
    on this host refuses a second run; one left by a dead process is taken over, saying so."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK)
    mine = {'pid': os.getpid(), 'host': socket.gethostname()}
    while True:
        try:  # O_EXCL: of two runs starting at once, one creates the lock and the other sees it
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            pass
        held = _holder(path)
        if held.get('host') == mine['host'] and held.get('pid') != mine['pid'] and _alive(held.get('pid')):
            raise ValueError('%s is in use by process %s (%s); if no such process trains there, delete the lock'
                             % (out, held.get('pid'), path))
        print('%s: taking over the lock of process %s on %s, which is not running'
              % (out, held.get('pid', '?'), held.get('host', '?')))
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
    with os.fdopen(fd, 'w') as f:
        json.dump(mine, f)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _holder(path):
    """The {'pid', 'host'} in a lock file; {} for an empty or damaged one (a kill while writing it)."""
    try:
        with open(path) as f:
            held = json.load(f)
    except (OSError, ValueError):
        return {}
    return held if isinstance(held, dict) else {}


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError) as e:
        return isinstance(e, PermissionError)  # it exists, owned by another user
    return True


def unfinished(out, prefix):
    """The hidden temporaries of snapshot writes a killed run left in ``out``."""
    return sorted(glob.glob(glob.escape(os.path.join(out, '.' + prefix)) + '_iter_*'))


def earlier_run(out, prefix, log_dir):
    """The files of an earlier run: snapshots ``<prefix>_iter_*`` in ``out`` (finished, then
    unfinished) and the log and charts in ``log_dir``."""
    logs = [os.path.join(log_dir, name) for name in LOG_FILES if os.path.exists(os.path.join(log_dir, name))]
    return logs + sorted(glob.glob(glob.escape(os.path.join(out, prefix)) + '_iter_*')) + unfinished(out, prefix)


def claim(out, prefix, log_dir, overwrite):
    """Make ``out`` ready for a new run: refuse when it holds an earlier run's snapshots or
    log, unless ``overwrite``, which deletes them (saying how many)."""
    found = earlier_run(out, prefix, log_dir)
    if not found:
        return
    if not overwrite:
        raise ValueError('%s holds another run (%s): continue it with --resume, start over with --overwrite '
                         '(which deletes its snapshots and log), or give another --out'
                         % (out, ', '.join(os.path.relpath(p, out) for p in found[:3])
                            + (' and %d more' % (len(found) - 3) if len(found) > 3 else '')))
    for path in found:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    print('starting over: deleted the %d files of the earlier run in %s' % (len(found), out))
