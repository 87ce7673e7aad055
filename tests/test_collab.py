"`lesson7-collab` trains on any ml-100k-layout folder and writes its outputs; bad input gets one line"
import json, shutil
from pathlib import Path
import pytest
from conftest import run_error, run, cli_error

@pytest.fixture(scope='module')
def small(tmp_path_factory):
    from lesson7_companion.sample_movielens import movielens_sample
    return movielens_sample(tmp_path_factory.mktemp('m')/'ml', n_users=80, n_items=60, n_ratings=2000)

def test_train_writes_everything(small, tmp_path):
    r = run('lesson7-collab', '--path', str(small), '--epochs', '2', '--n-factors', '8', '--out', str(tmp_path/'run'))
    assert r.returncode == 0, r.stderr
    assert 'Warning' not in r.stderr, r.stderr   # nothing from PyTorch about read-only NumPy arrays, nor from torch.jit
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['settings']['seed'] == 42 and m['settings']['n_factors'] == 8 and m['settings']['model'] == 'dot'
    assert [list(h) for h in m['history']] == [['epoch','train','valid']]*2
    assert m['valid_mse'] == m['history'][-1]['valid'] and m['seconds'] > 0 and 'noise_floor_mse' in m
    b = json.loads((tmp_path/'run'/'biases.json').read_text())
    assert len(b['lowest']) == len(b['highest']) == 10 and not set(b['lowest']) & set(b['highest'])
    for f in ('loss.png', 'pca.png'): assert (tmp_path/'run'/f).stat().st_size > 1000

def test_nn_model(small, tmp_path):
    from lesson7_companion.cli import lesson7_collab   # in-process: the test above runs the real command line
    lesson7_collab(path=str(small), model='nn', epochs=1, out=str(tmp_path/'nn'))
    assert json.loads((tmp_path/'nn'/'metrics.json').read_text())['settings']['model'] == 'nn'

def _err(r, *words): run_error(r, 'lesson7-collab', *words)

def test_bad_input(small, tmp_path, capsys):
    from lesson7_companion.cli import lesson7_collab
    _err(run('lesson7-collab', '--path', str(small), '--n-factors', '0', '--out', str(tmp_path/'o')), '--n-factors must be a whole number of at least 1, not 0')
    o = str(tmp_path/'o')
    cli_error(capsys, lesson7_collab, "Unknown model 'svd'", path=str(small), model='svd', out=o)
    bad = Path(shutil.copytree(small, tmp_path/'bad'))
    (bad/'u.data').write_text('1\t1\t3\t881250949\n2\t2\tfour\t881250950\n')
    cli_error(capsys, lesson7_collab, "rating='four'", path=str(bad), out=o)
    (bad/'u.data').write_text('1\t1\t3\t881250949\n1\t2\t4\t881250950\n')
    cli_error(capsys, lesson7_collab, 'at least 2 users', path=str(bad), out=o)
    shutil.copy(small/'u.data', bad/'u.data')
    (bad/'u.item').write_text((small/'u.item').read_bytes().decode('latin-1'), encoding='utf-8')
    cli_error(capsys, lesson7_collab, 'latin-1', path=str(bad), out=o)
    assert not (tmp_path/'o').exists()

def test_ensemble_model(small, tmp_path):
    "`--model ensemble` trains `ENSEMBLE`'s members (side info and AutoRec) on their own recipes and reports each, with their summed time"
    r = run('lesson7-collab', '--path', str(small), '--model', 'ensemble', '--seed', '3', '--out', str(tmp_path/'run'))
    assert r.returncode == 0, r.stderr
    assert 'Warning' not in r.stderr, r.stderr
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert m['settings']['seed'] == 3 and list(m['members']) == ['side', 'autorec']
    assert abs(m['seconds'] - sum(v['seconds'] for v in m['members'].values())) < 0.02
    assert m['valid_mse'] > 0 and 'noise_floor_mse' in m and json.loads(r.stdout.splitlines()[-1])['valid_mse'] == m['valid_mse']

def test_recipe_models_refuse_fastbook_options(small, tmp_path):
    _err(run('lesson7-collab', '--path', str(small), '--model', 'autorec', '--epochs', '3', '--out', str(tmp_path/'o')),
         "--epochs sets fastbook's recipe (--model dot or nn); --model autorec trains on its own recipe, so leave --epochs out.")
    assert not (tmp_path/'o').exists()
    bare = Path(shutil.copytree(small, tmp_path/'bare')); (bare/'u.user').unlink()
    _err(run('lesson7-collab', '--path', str(bare), '--model', 'side', '--out', str(tmp_path/'o')), 'u.user does not exist')
    assert not (tmp_path/'o').exists()
