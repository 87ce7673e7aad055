"`lesson7-data` builds the samples, checks folders, and reports bad input in one line"
from conftest import run_error, run, snapshot, cli_error

def test_paddy_sample(tmp_path):
    r = run('lesson7-data', 'paddy', '--dest', str(tmp_path/'p'))
    assert r.returncode == 0, r.stderr
    assert '1,000 train images (10 labels, 10 varieties), 100 test images' in r.stdout
    assert 'bacterial_panicle_blight' in r.stdout and 'ADT45' in r.stdout
    assert (tmp_path/'p'/'train.csv').exists()

def test_movielens_sample(tmp_path):
    r = run('lesson7-data', 'movielens', '--dest', str(tmp_path/'m'))
    assert r.returncode == 0, r.stderr
    assert 'ratings of' in r.stdout and 'rating histogram: 1:' in r.stdout
    assert (tmp_path/'m'/'u.data').exists()

def test_check_existing_folder(paddy):
    before = snapshot(paddy)
    r = run('lesson7-data', 'paddy', '--path', str(paddy))
    assert r.returncode == 0, r.stderr
    assert '40 train images' in r.stdout
    assert snapshot(paddy) == before

def _one_line_error(r, *words): run_error(r, 'lesson7-data', *words)

def test_invalid_path(tmp_path, capsys):
    from lesson7_companion.data import lesson7_data
    (tmp_path/'x').mkdir()
    _one_line_error(run('lesson7-data', 'paddy', '--path', str(tmp_path/'x')), 'no train.csv')
    cli_error(capsys, lesson7_data, 'u.data', dataset='movielens', path=str(tmp_path/'x'))

def test_unknown_dataset_and_source(capsys):
    from lesson7_companion.data import lesson7_data
    cli_error(capsys, lesson7_data, "use 'paddy' or 'movielens'", dataset='cifar')
    cli_error(capsys, lesson7_data, "'ml-100k'", dataset='movielens', source='ml-1m')
