"`lesson7-data paddy --source kaggle` through the real `kaggle` client, against a local stand-in for Kaggle's API"
import pytest
from conftest import run, run_error, zip_of
from kaggle_standin import KaggleStandIn, nothing_on
from lesson7_companion.readers import check_paddy

KEY = 'sekret-4f1d0c9a7e2b'

@pytest.fixture
def env(tmp_path):
    "The environment of a user with a legacy key in KAGGLE_USERNAME/KAGGLE_KEY, whose client talks to the stand-in"
    (tmp_path/'kag').mkdir()
    return dict(KAGGLE_API_ENVIRONMENT='LOCALHOST', KAGGLE_USERNAME='student', KAGGLE_KEY=KEY, KAGGLE_API_TOKEN=None,
                KAGGLE_CONFIG_DIR=str(tmp_path/'kag'), HOME=str(tmp_path))

def _data(dest, env): return run('lesson7-data', 'paddy', '--source', 'kaggle', '--dest', str(dest), env=env)

@pytest.mark.parametrize('mode', ['whole', 'cut'])
def test_download(paddy_src, tmp_path, env, mode):
    "The zip arrives (in one go, or resumed after the connection breaks halfway), is unpacked into place, and passes the checks"
    with KaggleStandIn(zip_of(paddy_src), key=KEY, mode=mode) as srv: r = _data(tmp_path/'d', env)
    assert r.returncode == 0, r.stderr
    assert sorted(o.name for o in (tmp_path/'d').iterdir()) == ['sample_submission.csv', 'test_images', 'train.csv', 'train_images']
    assert check_paddy(tmp_path/'d') and 'Paddy folder:' in r.stdout and KEY not in r.stdout+r.stderr
    calls = [(m, p) for m,p,*_ in srv.log]
    assert calls[0] == ('POST', '/api/v1/competitions.CompetitionApiService/DownloadDataFiles') and srv.log[0][2].startswith('Basic ')
    assert calls[1:] == [('GET', '/files/paddy-disease-classification.zip')] * (1 if mode == 'whole' else 2)   # 'cut': one retry
    assert not list(tmp_path.glob('.d-partial-*'))

@pytest.mark.parametrize('key,status,words', [('wrong-key-123456', None, 'Kaggle rejected your credentials (401)'),
                                              (KEY, 403, "accept the competition's rules")])
def test_refused(paddy_src, tmp_path, env, key, status, words):
    with KaggleStandIn(zip_of(paddy_src), key=key, status=status): r = _data(tmp_path/'d', env)
    run_error(r, 'lesson7-data', words)
    assert KEY not in r.stdout+r.stderr and not (tmp_path/'d').exists() and not list(tmp_path.glob('.d-partial-*'))

def test_corrupt_zip(paddy_src, tmp_path, env):
    "A zip cut short at the source (the transfer itself completes): one line, nothing kept, and the next try starts afresh"
    with KaggleStandIn(zip_of(paddy_src)[:30000], key=KEY): r = _data(tmp_path/'d', env)
    run_error(r, 'lesson7-data', 'incomplete or corrupt', 'nothing was kept')
    assert not (tmp_path/'d').exists() and not list(tmp_path.glob('.d-partial-*'))

@pytest.mark.parametrize('where', ['KAGGLE_API_TOKEN', 'access_token'])
def test_newer_token(paddy_src, tmp_path, env, where):
    "Kaggle's newer API token, in the environment or in ~/.kaggle/access_token, as the installed client accepts it: downloaded, and never printed"
    env = dict(env, KAGGLE_USERNAME=None, KAGGLE_KEY=None)
    if where == 'KAGGLE_API_TOKEN': env['KAGGLE_API_TOKEN'] = KEY
    else: (tmp_path/'.kaggle').mkdir(); (tmp_path/'.kaggle'/'access_token').write_text(KEY + '\n')
    with KaggleStandIn(zip_of(paddy_src), key=KEY) as srv: r = _data(tmp_path/'d', env)
    assert r.returncode == 0, r.stderr
    assert check_paddy(tmp_path/'d') and KEY not in r.stdout+r.stderr
    dl, = [o for o in srv.log if o[1] == '/api/v1/competitions.CompetitionApiService/DownloadDataFiles']
    assert srv.log[0][1] == '/api/v1/security.OAuthService/IntrospectToken' and dl[2] == f'Bearer {KEY}'   # the token checked, then sent

def test_newer_token_refused_or_unreachable(paddy_src, tmp_path, env):
    "A token Kaggle does not accept is named as such (not 'no credentials'); with Kaggle out of reach, the network is blamed"
    env = dict(env, KAGGLE_USERNAME=None, KAGGLE_KEY=None, KAGGLE_API_TOKEN=KEY)
    with KaggleStandIn(zip_of(paddy_src), key='another-token-0123'): r = _data(tmp_path/'d', env)
    run_error(r, 'lesson7-data', 'Kaggle did not accept the API token in KAGGLE_API_TOKEN')
    with nothing_on(80): r = _data(tmp_path/'d', env)   # no stand-in: nothing answers on localhost (not even another worker's)
    run_error(r, 'lesson7-data', 'Could not reach Kaggle')
    assert KEY not in r.stdout+r.stderr and not (tmp_path/'d').exists() and not list(tmp_path.glob('.d-partial-*'))
