"""log.jsonl survives a run killed while writing it."""
import json

import pytest

from fcn.runlog import Log


def write_log(tmp_path, text):
    (tmp_path / 'log.jsonl').write_text(text)
    return tmp_path / 'log.jsonl'


def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path):
    path = write_log(tmp_path, '{"iter": 20, "loss": 1.5}\n{"iter": 40, "lo')
    with pytest.warns(UserWarning, match='last line is incomplete'):
        log = Log(str(tmp_path))
    assert log.records == [{'iter': 20, 'loss': 1.5}]
    log.write(iter=40, loss=1.25)
    lines = path.read_text().splitlines()
    assert [json.loads(line)['iter'] for line in lines] == [20, 40]
    assert [r['iter'] for r in Log(str(tmp_path)).records] == [20, 40]


def test_a_whole_unterminated_last_line_keeps_the_next_record_apart(tmp_path):
    path = write_log(tmp_path, '{"iter": 20, "loss": 1.5}')
    log = Log(str(tmp_path))
    log.write(iter=40, loss=1.25)
    assert [json.loads(line)['iter'] for line in path.read_text().splitlines()] == [20, 40]


def test_a_damaged_line_before_the_last_names_the_file_and_line(tmp_path):
    write_log(tmp_path, '{"iter": 20}\n{"iter": 4\n{"iter": 60}\n')
    with pytest.raises(ValueError, match=r'log\.jsonl: line 2 is not a JSON record'):
        Log(str(tmp_path))
