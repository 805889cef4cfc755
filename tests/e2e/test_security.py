"""No file content is ever executed or unpickled: every Python file of the repository is
parsed (ast, so neither comments nor strings count) and calls that would are refused:
eval/exec, pickle-family loads, torch.load without weights_only=True, numpy loads with
allow_pickle=True, and yaml.load."""
import ast
import os
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EXECUTE = {'eval', 'exec', 'builtins.eval', 'builtins.exec'}
UNPICKLE_MODULES = ('pickle', 'cPickle', '_pickle', 'dill', 'cloudpickle', 'joblib', 'marshal', 'shelve')
ALWAYS = {'pandas.read_pickle', 'yaml.load', 'yaml.unsafe_load', 'yaml.full_load', 'yaml.load_all',
          'yaml.unsafe_load_all', 'yaml.full_load_all'}


def imported_names(tree):
    """{local name: dotted name it stands for} from the module's imports."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split('.')[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = '%s.%s' % (node.module, alias.name)
    return names


def dotted(node, names):
    """'numpy.load' for ``np.load`` after ``import numpy as np``; None when not a plain name."""
    if isinstance(node, ast.Name):
        return names.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = dotted(node.value, names)
        return base and '%s.%s' % (base, node.attr)
    return None


def keyword_is_true(call, name):
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is True
               for k in call.keywords)


def problems(source, filename='<string>'):
    """'file:line: what' for each call that would run or unpickle data."""
    tree = ast.parse(source, filename)
    names = imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func, names)
        if name is None:
            continue
        if name in EXECUTE:
            what = '%s() runs text as code' % name
        elif name.split('.')[0] in UNPICKLE_MODULES and name.split('.')[-1] in (
                'load', 'loads', 'Unpickler', 'open'):
            what = '%s() unpickles' % name
        elif name in ALWAYS:
            what = '%s() can build arbitrary objects' % name
        elif name == 'numpy.load' and keyword_is_true(node, 'allow_pickle'):
            what = 'numpy.load(allow_pickle=True) unpickles'
        elif name == 'torch.load' and not keyword_is_true(node, 'weights_only'):
            what = 'torch.load() without weights_only=True unpickles'
        else:
            continue
        found.append((node.lineno, '%s:%d: %s' % (filename, node.lineno, what)))
    return [line for _, line in sorted(found)]


def python_files():
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith('.') and d != '__pycache__')
        for name in sorted(files):
            if name.endswith('.py'):
                yield os.path.join(directory, name)


def test_no_file_content_is_executed_or_unpickled():
    found, scanned = [], 0
    for path in python_files():
        with open(path, encoding='utf-8') as f:
            found += problems(f.read(), os.path.relpath(path, ROOT))
        scanned += 1
    assert scanned > 50  # the whole tree, not an empty walk
    assert not found, '\n'.join(found)


def test_the_scan_finds_each_kind():
    bad = textwrap.dedent('''
        import pickle, yaml, torch
        import numpy as np
        from pickle import loads as unpickle
        import builtins
        eval(text)
        exec(text)
        builtins.eval(text)
        pickle.load(f)
        unpickle(raw)
        np.load(path, allow_pickle=True)
        torch.load(path)
        torch.load(path, weights_only=False)
        yaml.load(text)
    ''')
    assert [line.split(': ', 1)[1] for line in problems(bad)] == [
        'eval() runs text as code', 'exec() runs text as code', 'builtins.eval() runs text as code',
        'pickle.load() unpickles', 'pickle.loads() unpickles', 'numpy.load(allow_pickle=True) unpickles',
        'torch.load() without weights_only=True unpickles',
        'torch.load() without weights_only=True unpickles',
        'yaml.load() can build arbitrary objects']
    safe = textwrap.dedent('''
        import ast, yaml, torch
        import numpy as np
        ast.literal_eval(text)
        np.load(path)
        torch.load(path, weights_only=True)
        yaml.safe_load(text)
        model.eval()
    ''')
    assert problems(safe) == []
