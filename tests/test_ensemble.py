"`lesson7-ensemble` trains several models on a competition-layout folder and writes the ensemble's Kaggle submission; bad input gets one line"
import json
import pandas as pd, pytest
from conftest import run, run_error, cli_error

@pytest.fixture(scope='module')
def small(tmp_path_factory):
    from lesson7_companion.sample_paddy import paddy_sample
    return paddy_sample(tmp_path_factory.mktemp('p')/'paddy', n_train=120, n_test=7)

def test_ensemble_writes_a_submission(small, tmp_path):
    "The real command line on a held-out Kaggle-layout folder: one row per test photo in sample_submission's order, every label a disease"
    r = run('lesson7-ensemble', '--path', str(small), '--archs', 'resnet10t_quarter:32x24,test_convnext:48', '--epochs', '1', '--bs', '16',
            '--out', str(tmp_path/'run'))
    assert r.returncode == 0, r.stderr
    sub = pd.read_csv(tmp_path/'run'/'submission.csv')
    assert list(sub.columns) == ['image_id', 'label']
    assert list(sub.image_id) == list(pd.read_csv(small/'sample_submission.csv').image_id)
    assert sub.label.isin(pd.read_csv(small/'train.csv').label.unique()).all()
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    assert set(m['members']) == {'resnet10t_quarter', 'test_convnext'} and 0 <= m['ensemble']['tta_err'] <= 1
    assert [p['arch'] for p in m['plan']] == ['resnet10t_quarter', 'test_convnext'] and all(16 % p['accum'] == 0 for p in m['plan'])
    assert json.loads(r.stdout.strip().splitlines()[-1])['ensemble'] == m['ensemble']

def test_bad_input_cli(small, tmp_path):
    run_error(run('lesson7-ensemble', '--path', str(small), '--archs', 'resnet19:32', '--out', str(tmp_path/'o')), 'lesson7-ensemble', 'close names')
    assert not (tmp_path/'o').exists()

def test_bad_input(small, tmp_path, capsys):
    from lesson7_companion.cli import lesson7_ensemble
    o = str(tmp_path/'o'); (tmp_path/'empty').mkdir()
    cli_error(capsys, lesson7_ensemble, '--archs takes comma-separated', archs='resnet10t_quarter,test_convnext', path=str(small), out=o)
    cli_error(capsys, lesson7_ensemble, '--archs takes comma-separated', archs='resnet10t_quarter:big', path=str(small), out=o)
    cli_error(capsys, lesson7_ensemble, '--epochs must be a whole number of at least 1, not 0', epochs=0, path=str(small), out=o)
    cli_error(capsys, lesson7_ensemble, '--budget-mb must be a positive', budget_mb=-1., path=str(small), out=o)
    cli_error(capsys, lesson7_ensemble, 'more than the budget', budget_mb=0.5, path=str(small), out=o)
    cli_error(capsys, lesson7_ensemble, 'no train.csv', path=str(tmp_path/'empty'), out=o)
    (tmp_path/'full').mkdir(); (tmp_path/'full'/'x').write_text('x')
    cli_error(capsys, lesson7_ensemble, 'a folder with files in it', path=str(small), out=str(tmp_path/'full'))
    assert not (tmp_path/'o').exists()
