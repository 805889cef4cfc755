"""A run directory belongs to one run: its lock, and a new run refused over an earlier one's files."""
import json
import os
import socket
import subprocess

import pytest

from fcn import rundir


def write_lock(out, pid, host=None):
    with open(os.path.join(out, rundir.LOCK), 'w') as f:
        json.dump({'pid': pid, 'host': host or socket.gethostname()}, f)


def dead_pid():
    process = subprocess.Popen(['true'])
    process.wait()
    return process.pid


def test_the_lock_is_held_while_the_block_runs_and_removed_after(tmp_path):
    out = str(tmp_path / 'run')
    with rundir.lock(out):
        with open(os.path.join(out, rundir.LOCK)) as f:
            assert json.load(f) == {'pid': os.getpid(), 'host': socket.gethostname()}
    assert os.listdir(out) == []


def test_a_live_process_holding_the_lock_refuses_a_second_run(tmp_path):
    write_lock(str(tmp_path), os.getppid())
    with pytest.raises(ValueError, match='in use by process %d' % os.getppid()):
        with rundir.lock(str(tmp_path)):
            pytest.fail('entered a directory another process trains in')
    assert os.path.isfile(tmp_path / rundir.LOCK)  # the other run's lock stays


@pytest.mark.parametrize('held', ['dead', 'damaged', 'other host'])
def test_a_stale_lock_is_taken_over_saying_so(tmp_path, capsys, held):
    """A dead process's lock, a damaged one (killed while writing it), or one from another
    host (whose pids say nothing here) is taken over with a message."""
    if held == 'damaged':
        (tmp_path / rundir.LOCK).write_text('{"pid": 12')
    else:
        write_lock(str(tmp_path), dead_pid() if held == 'dead' else os.getppid(),
                   'elsewhere' if held == 'other host' else None)
    with rundir.lock(str(tmp_path)):
        pass
    assert 'taking over the lock' in capsys.readouterr().out
    assert not os.path.exists(tmp_path / rundir.LOCK)


def test_an_earlier_run_is_refused_naming_resume_and_overwrite(tmp_path):
    out = str(tmp_path)
    for name in ('train_iter_4.caffemodel', 'train_iter_4.solverstate', '.train_iter_8.caffemodel.tmp',
                 'log.jsonl', 'notes.txt'):
        (tmp_path / name).write_text(name)
    with pytest.raises(ValueError) as info:
        rundir.claim(out, 'train', out, overwrite=False)
    message = str(info.value)
    assert out in message and '--resume' in message and '--overwrite' in message
    assert '(log.jsonl, train_iter_4.caffemodel, train_iter_4.solverstate and 1 more)' in message
    assert len(os.listdir(out)) == 5  # nothing deleted


def test_overwrite_deletes_the_earlier_runs_files_only(tmp_path, capsys):
    out, logs = tmp_path / 'snapshots', tmp_path
    out.mkdir()
    (out / 'train_iter_4.caffemodel').write_text('w')
    (out / 'solver.prototxt').write_text('s')
    (logs / 'log.jsonl').write_text('{}\n')
    (logs / 'charts').mkdir()
    (logs / 'charts' / 'curves.png').write_text('png')
    (logs / 'mine.txt').write_text('keep')
    rundir.claim(str(out), 'train', str(logs), overwrite=True)
    assert 'deleted the 3 files of the earlier run' in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ['solver.prototxt'] and sorted(os.listdir(logs)) == ['mine.txt', 'snapshots']


def test_an_empty_or_new_directory_is_claimed_silently(tmp_path, capsys):
    rundir.claim(str(tmp_path), 'train', str(tmp_path), overwrite=False)
    assert capsys.readouterr().out == ''
