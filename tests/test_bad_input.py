"Every kind of bad input gets one readable error of the right type, and nothing the user had is lost"
from pathlib import Path
import pandas as pd, pytest
from fastcore.basics import store_attr
from lesson7_companion.core import *
from lesson7_companion.readers import *
from lesson7_companion.data import *
from lesson7_companion.reports import *
from lesson7_companion.sample_paddy import paddy_sample
from lesson7_companion.sample_movielens import movielens_sample
from conftest import run, snapshot, zip_of

# --- Kaggle: credentials, rules, network, interrupted downloads ---------------------------------------------------
NO_CREDS = dict(KAGGLE_USERNAME=None, KAGGLE_KEY=None, KAGGLE_API_TOKEN=None)

def _no_creds_env(tmp_path):
    (tmp_path/'kag').mkdir(exist_ok=True)
    return dict(NO_CREDS, KAGGLE_CONFIG_DIR=str(tmp_path/'kag'), HOME=str(tmp_path))

def test_no_kaggle_credentials(tmp_path):
    r = run('lesson7-data', 'paddy', '--source', 'kaggle', '--dest', str(tmp_path/'d'), env=_no_creds_env(tmp_path))
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and 'No Kaggle credentials found' in r.stderr
    assert 'Authentication required' not in r.stdout+r.stderr  # the kaggle package's own help is replaced by ours
    assert not (tmp_path/'d').exists() and not list(tmp_path.glob('.d-partial-*'))

def test_no_network_and_no_key_in_output(tmp_path):
    "Real kaggle API, made-up key, no network here: a ConnectionError message, and the key never printed"
    key = 'sekret-0123456789abcdef'
    env = dict(_no_creds_env(tmp_path), KAGGLE_USERNAME='student', KAGGLE_KEY=key)
    r = run('lesson7-data', 'paddy', '--source', 'kaggle', '--dest', str(tmp_path/'d'), env=env)
    assert r.returncode == 2 and 'Could not reach Kaggle' in r.stderr, r.stderr
    assert key not in r.stdout+r.stderr
    assert not (tmp_path/'d').exists() and not list(tmp_path.glob('.d-partial-*'))

class FakeKaggle:
    "Stands in for `KaggleApi`: writes `payload` as the competition zip, or raises `exc`"
    def __init__(self, payload=None, exc=None): store_attr()
    def competition_download_files(self, comp, path=None, quiet=True, **kw):
        if self.exc: raise self.exc
        (Path(path)/f'{comp}.zip').write_bytes(self.payload)

def test_unknown_error_scrubs_credentials(tmp_path, monkeypatch):
    key = 'sekret-abcdef0123456789'
    monkeypatch.setenv('KAGGLE_KEY', key)
    with pytest.raises(RuntimeError) as e:
        kaggle_competition(dest=tmp_path/'c', api=FakeKaggle(exc=ValueError(f'bad request with key={key}')))
    assert key not in str(e.value) and '***' in str(e.value)
    assert e.value.__cause__ is None and e.value.__suppress_context__  # the original (with the key) is not chained

def test_download_never_overwrites(tmp_path, paddy_src):
    (tmp_path/'mine').mkdir(); (tmp_path/'mine'/'notes.txt').write_text('my work')
    with pytest.raises(FileExistsError, match='left untouched'): kaggle_competition(dest=tmp_path/'mine', api=FakeKaggle(zip_of(paddy_src)))
    with pytest.raises(FileExistsError, match='left untouched'): untar_movielens(tmp_path/'mine')
    with pytest.raises(FileExistsError, match='left untouched'): paddy_sample(tmp_path/'mine', n_train=20)
    with pytest.raises(FileExistsError, match='left untouched'): movielens_sample(tmp_path/'mine')
    assert snapshot(tmp_path/'mine') == {Path('notes.txt'): b'my work'}

@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    "fastai's config, archive and data folders under `tmp_path`, never the user's own ~/.fastai (setting FASTAI_HOME alone still left files in ~/.fastai/archive when these tests ran together)"
    import fastai.data.external as ext
    from fastcore.all import Config
    home = dict(data='data', archive='archive', storage='tmp', model='models')
    monkeypatch.setattr(ext, 'fastai_cfg', lambda: Config(tmp_path/'fastai', 'config.ini', create=home))

def test_movielens_no_network(tmp_path, fastai_home):
    "fastai's real `untar_data`, with no network here"
    with pytest.raises(ConnectionError, match='Could not download ml-100k'): get_movielens('ml-100k', dest=tmp_path/'ml')
    assert not (tmp_path/'ml').exists() and not list(tmp_path.glob('.ml-partial-*'))

# --- Paddy folders ------------------------------------------------------------------------------------------------
def test_paddy_folder_problems(paddy, tmp_path):
    df = pd.read_csv(paddy/'train.csv')
    before = snapshot(paddy)
    assert get_paddy(path=paddy) == paddy and snapshot(paddy) == before    # checked, not written
    # a csv missing a column
    df.drop(columns='variety').to_csv(paddy/'train.csv', index=False)
    with pytest.raises(ValueError, match="no column variety"): check_paddy(paddy)
    # an image in train.csv with no file
    df.to_csv(paddy/'train.csv', index=False)
    gone = paddy/'train_images'/df.label[0]/df.image_id[0]
    data = gone.read_bytes(); gone.unlink()
    with pytest.raises(FileNotFoundError, match='have no file'): check_paddy(paddy)
    gone.write_bytes(data)
    # a file that is not in train.csv
    (paddy/'train_images'/df.label[0]/'199999.jpg').write_bytes(data)
    with pytest.raises(ValueError, match='not in train.csv'): check_paddy(paddy)
    (paddy/'train_images'/df.label[0]/'199999.jpg').unlink()
    # a label in train.csv with no folder
    df.assign(label=df.label.where(df.index > 0, 'rice_rust')).to_csv(paddy/'train.csv', index=False)
    with pytest.raises(ValueError, match='rice_rust'): check_paddy(paddy)
    df.to_csv(paddy/'train.csv', index=False)
    # an image file that is not an image
    gone.write_text('this is not a jpeg')
    with pytest.raises(ValueError, match='not readable images'): check_paddy(paddy)
    assert check_paddy(paddy, check_images=False) == paddy
    gone.write_bytes(data)
    assert check_paddy(paddy) == paddy

def test_paddy_missing_train_csv(paddy):
    (paddy/'train.csv').unlink()
    with pytest.raises(FileNotFoundError, match='no train.csv'): get_paddy(path=paddy)
    (paddy/'train.csv').write_bytes(b'\xff\xfe\x00garbage,"unclosed\n1,2')
    with pytest.raises(ValueError): check_paddy(paddy)

# --- MovieLens folders --------------------------------------------------------------------------------------------
def test_movielens_missing_u_data(ml):
    (ml/'u.data').unlink()
    with pytest.raises(FileNotFoundError, match='needs u.data'): get_movielens(path=ml)

@pytest.mark.parametrize('line,msg', [('1\t2\tfive\t881250949', "rating='five'"), ('1\t\t3\t881250949', 'missing or non-numeric'),
                                      ('1\t2\t9\t881250949', 'outside 1..5'), ('1\t2\t0\t881250949', 'outside 1..5'),
                                      ('1\t2\t3', 'line 3: timestamp'), ('2\t2\t5\t881250951', 'same movie twice for the same user on 1 line.*line.s. 3')])
def test_bad_ratings(ml, line, msg):
    (ml/'u.data').write_text('1\t1\t3\t881250949\n2\t2\t4\t881250950\n' + line + '\n')
    with pytest.raises(ValueError, match=msg): load_ratings(ml)

def test_too_few_users(ml):
    (ml/'u.data').write_text('1\t1\t3\t881250949\n1\t2\t4\t881250950\n')
    with pytest.raises(ValueError, match='at least 2 users'): check_movielens(ml)

def test_u_item_not_latin1(ml):
    txt = (ml/'u.item').read_bytes().decode('latin-1')
    assert not txt.isascii()
    (ml/'u.item').write_text(txt, encoding='utf-8')
    with pytest.raises(UnicodeError, match='latin-1'): load_ratings(ml)

def test_u_item_wrong_fields(ml):
    (ml/'u.item').write_text('1|A film (1990)|01-Jan-1990\n')
    with pytest.raises(ValueError, match='24 pipe-separated fields'): check_movielens(ml)

def test_unknown_movie(ml):
    lines = (ml/'u.item').read_bytes().splitlines()
    (ml/'u.item').write_bytes(b'\n'.join(lines[1:])+b'\n')
    with pytest.raises(ValueError, match='does not list'): check_movielens(ml)

def test_two_builders_of_one_sample(tmp_path):
    "Two processes building the same default sample at once (nbdev-test runs notebooks in parallel): both get it"
    from lesson7_companion.core import build_once
    params = dict(kind='demo')
    def build(tmp):
        (tmp/'a.txt').write_text('mine')
        if not (tmp_path/'s').exists(): build_once(tmp_path/'s', params, lambda t: (t/'a.txt').write_text('theirs'))  # the other wins
    assert build_once(tmp_path/'s', params, build) == tmp_path/'s'
    assert (tmp_path/'s'/'a.txt').read_text() == 'theirs'
    assert [o.name for o in tmp_path.iterdir()] == ['s']  # no partial folder left
    with pytest.raises(FileExistsError, match='other settings'): build_once(tmp_path/'s', dict(kind='other'), build)

def test_movielens_corrupt_archive(tmp_path, fastai_home):
    "A cached ml-100k.zip that fails fastai's size and checksum check is named as corrupt, not blamed on the network"
    import fastai.data.external as ext
    arch = ext.fastai_path('archive')/'ml-100k.zip'
    assert arch.is_relative_to(tmp_path)
    arch.parent.mkdir(parents=True, exist_ok=True); arch.write_bytes(b'PK\x03\x04 not a zip')
    with pytest.raises(ConnectionError, match=f'ml-100k archive {arch} is corrupt') as e: get_movielens('ml-100k', dest=tmp_path/'ml')
    assert 'no network' not in str(e.value)
    assert not (tmp_path/'ml').exists() and not list(tmp_path.glob('.ml-partial-*'))

def test_building_is_all_or_nothing(tmp_path):
    "`building` renames a finished folder into place, deletes a failed one, and refuses links, files and full folders"
    from lesson7_companion.core import building
    with building(tmp_path/'ok') as t: (t/'a.txt').write_text('done')
    assert (tmp_path/'ok'/'a.txt').read_text() == 'done'
    with pytest.raises(KeyboardInterrupt):
        with building(tmp_path/'cut') as t: (t/'a.txt').write_text('half'); raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ok']   # no `cut`, no hidden partial folder
    (tmp_path/'empty').mkdir(); (tmp_path/'link').symlink_to(tmp_path/'empty'); (tmp_path/'f.txt').write_text('mine')
    for p,kind in [('link','a link'), ('f.txt','a file'), ('ok','a folder with files in it')]:
        with pytest.raises(FileExistsError, match=f'is {kind}, not'):
            with building(tmp_path/p) as t: (t/'a.txt').write_text('x')
    assert (tmp_path/'link').is_symlink() and (tmp_path/'f.txt').read_text() == 'mine' and (tmp_path/'ok'/'a.txt').read_text() == 'done'

# --- Issue 29: the boundary, second round -------------------------------------------------------------------------
def test_empty_folder_keeps_its_permissions(tmp_path):
    "`building` into an existing empty folder keeps that folder's permission bits; a new folder gets what `mkdir` would give it"
    import os, stat
    from lesson7_companion.core import building
    d = tmp_path/'shared'; d.mkdir(); os.chmod(d, 0o2750)
    with building(d) as t: (t/'a.txt').write_text('x')
    assert stat.S_IMODE(d.stat().st_mode) == 0o2750 and (d/'a.txt').read_text() == 'x'
    um = os.umask(0o027)
    try:
        with building(tmp_path/'new') as t: pass
    finally: os.umask(um)
    assert stat.S_IMODE((tmp_path/'new').stat().st_mode) == 0o750

def test_two_writers_of_one_folder(tmp_path):
    "Another run fills `dest` while this one builds: this one says so, keeps nothing, and leaves the other's files alone"
    from lesson7_companion.core import building
    with pytest.raises(FileExistsError, match='written by someone else while this was built'):
        with building(tmp_path/'run') as t:
            (t/'mine.txt').write_text('second')
            with building(tmp_path/'run') as u: (u/'theirs.txt').write_text('first')
    assert [p.name for p in tmp_path.iterdir()] == ['run'] and [p.name for p in (tmp_path/'run').iterdir()] == ['theirs.txt']

def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    "SIGTERM (kill, timeout, a container stop) in the middle of a sample build: the hidden partial folder goes, as for Ctrl-C"
    import signal, subprocess, sys, time
    exe = Path(sys.executable).parent/'lesson7-data'
    p = subprocess.Popen([str(exe), 'paddy', '--dest', str(tmp_path/'D')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while not [f for d in tmp_path.glob('.D-partial-*') for f in d.rglob('*.jpg')]:
        assert p.poll() is None and time.time()-t < 300, p.communicate()
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    _,err = p.communicate(timeout=120)
    assert p.returncode == 143 and err.strip() == 'lesson7-data: stopped (SIGTERM); nothing half-written was kept.', (p.returncode, err[-2000:])
    assert list(tmp_path.iterdir()) == []

def test_empty_train_csv(paddy):
    import shutil
    (paddy/'train.csv').write_text('image_id,label,variety,age\n')
    for d in (paddy/'train_images').iterdir(): shutil.rmtree(d)
    with pytest.raises(ValueError, match='has a header but no rows'): check_paddy(paddy)

def test_not_the_samples_truth(ml):
    (ml/'truth.json').write_text('{"user_bias": [0.1]}')
    with pytest.raises(ValueError, match='is not the planted truth of a built-in sample .it has no item_bias'): check_movielens(ml)
    (ml/'truth.json').write_text('[1, 2]')
    with pytest.raises(ValueError, match='not a JSON object'): check_movielens(ml)

def test_u_item_ids(ml):
    "An id listed twice would give its ratings two titles; a non-numeric id is named by its line, not as unknown ids in u.data"
    lines = (ml/'u.item').read_bytes().splitlines()
    (ml/'u.item').write_bytes(b'\n'.join(lines + [lines[4].replace(lines[4].split(b'|')[1], b'Another Film (1999)')]) + b'\n')
    with pytest.raises(ValueError, match='lists movie id 5 more than once'): check_movielens(ml)
    (ml/'u.item').write_bytes(b'\n'.join([b'x' + lines[0]] + lines[1:]) + b'\n')
    with pytest.raises(ValueError, match="line 1 has the movie id 'x1', which is not a whole number"): check_movielens(ml)

def test_python_api_wrong_kind_of_path(paddy):
    with pytest.raises(FileNotFoundError, match='is not a folder'): paddy_summary(paddy/'train.csv')
    with pytest.raises(ValueError, match='is a folder, not a CSV file'): read_csv_checked(paddy, ['image_id'])

def test_collab_api_refuses(ml, tmp_path):
    "The collab functions called from Python: `#na#` is no title, the feedback loop needs the sample's truth, and `lr` is checked before training"
    import math, shutil
    from lesson7_companion.collab_interpret import most_similar, simulate_feedback, train_collab
    learn,_ = train_collab(ml, epochs=1, bs=64, progress=False)
    with pytest.raises(UnknownName, match="'#na#' is not a title the model was trained on"): most_similar(learn, '#na#')
    real = Path(shutil.copytree(ml, tmp_path/'real', ignore=shutil.ignore_patterns('truth.json')))   # the real ml-100k's files
    with pytest.raises(MissingPath, match="has no truth.json.*built-in sample.*simulate_feedback\\(\\)") as e: simulate_feedback(real, rounds=1)
    assert '\n' not in str(e.value)
    for lr in (math.nan, math.inf, 0., -1e-3):   # a folder that is not there: refused before the data is even read
        with pytest.raises(BadValue, match=f'lr must be a positive finite number, not {lr}'): train_collab(tmp_path/'nowhere', lr=lr)
