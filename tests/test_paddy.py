"`lesson7-paddy` trains on any competition-layout folder and writes its outputs; bad input gets one line"
import json, shutil
from pathlib import Path
import pandas as pd, pytest
from conftest import run_error, run, cli_error, as_in_a_terminal

@pytest.fixture(scope='module')
def small(tmp_path_factory):
    from lesson7_companion.sample_paddy import paddy_sample
    return paddy_sample(tmp_path_factory.mktemp('p')/'paddy', n_train=120, n_test=7)

def test_train_writes_everything(small, tmp_path):
    r = run('lesson7-paddy', '--path', str(small), '--epochs', '1', '--size', '32', '--bs', '16', '--out', str(tmp_path/'run'))
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path/'run'/'metrics.json').read_text())
    for k in ('disease_err', 'variety_err', 'valid_loss', 'seconds', 'images_per_sec', 'history', 'settings'): assert k in m
    assert m['settings']['arch'] == 'resnet10t_quarter' and m['settings']['size'] == [32, 24] and m['settings']['bs'] == 16
    assert len(m['history']) == 1 and {'train_loss','disease_err','variety_loss'} <= set(m['history'][0])
    assert 0 <= m['disease_err'] <= 1 and m['seconds'] > 0
    sub = pd.read_csv(tmp_path/'run'/'submission.csv')
    assert list(sub.image_id) == list(pd.read_csv(small/'sample_submission.csv').image_id) and sub.label.notna().all()
    assert (tmp_path/'run'/'loss.png').stat().st_size > 1000
    # the exported learner loads and predicts both heads without the training data
    code = ("from fastai.learner import load_learner; import sys; l = load_learner(sys.argv[1]); "
            "n,_,p = l.predict(sys.argv[2]); print(len(n), p.shape[0])")
    r = run('python', '-c', code, str(tmp_path/'run'/'model.pkl'), str(small/'test_images'/'200001.jpg'))
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(small/'train.csv')   # one output per label and per variety that train.csv lists (a small sample lacks the rarest)
    assert r.stdout.split()[-2:] == ['2', str(df.label.nunique() + df.variety.nunique())]

def _err(r, *words): run_error(r, 'lesson7-paddy', *words)

def test_bad_input_cli(small, tmp_path):
    "One real command line, to see the one-line error from outside"
    _err(run('lesson7-paddy', '--path', str(small), '--arch', 'resnet19', '--out', str(tmp_path/'o')), 'close names', 'resnet18')

def test_bad_input(small, tmp_path, capsys):
    from lesson7_companion.cli import lesson7_paddy
    o = str(tmp_path/'o'); (tmp_path/'empty').mkdir()
    cli_error(capsys, lesson7_paddy, 'no train.csv', path=str(tmp_path/'empty'), out=o)
    cli_error(capsys, lesson7_paddy, '--bs must be a whole number of at least 1, not 0', path=str(small), bs=0, out=o)
    cli_error(capsys, lesson7_paddy, 'bs=500', '96 training images', path=str(small), bs=500, out=o)
    bad = Path(shutil.copytree(small, tmp_path/'bad'))
    df = pd.read_csv(bad/'train.csv'); df.loc[0, 'label'] = 'rice_rust'; df.to_csv(bad/'train.csv', index=False)
    cli_error(capsys, lesson7_paddy, 'no folder', 'rice_rust', path=str(bad), out=o)
    assert not (tmp_path/'o').exists()

def test_empty_validation_set(small):
    from lesson7_companion.multi_target import paddy_dls
    with pytest.raises(ValueError, match='validation set'): paddy_dls(small, valid_pct=0.001)

def test_accum_writes_memory(small, tmp_path):
    from lesson7_companion.cli import lesson7_paddy   # in-process: the tests above run the real command line
    lesson7_paddy(path=str(small), epochs=1, size=32, bs=32, accum=4, out=str(tmp_path/'acc'))
    m = json.loads((tmp_path/'acc'/'metrics.json').read_text())
    assert (m['accum'], m['micro_bs'], m['settings']['bs']) == (4, 8, 32)
    assert m['saved_activation_bytes_per_micro_batch'] > 0 and m['param_bytes'] > 0
    assert [k for k in m if 'saved' in k and 'bytes' in k]

def test_accum_bad_input(small, tmp_path, capsys):
    from lesson7_companion.cli import lesson7_paddy
    o = str(tmp_path/'o')
    cli_error(capsys, lesson7_paddy, 'at least 1', path=str(small), accum=0, out=o)
    cli_error(capsys, lesson7_paddy, 'at least 1', path=str(small), accum=-2, out=o)
    cli_error(capsys, lesson7_paddy, 'accum=32 is larger than bs=16', path=str(small), bs=16, accum=32, out=o)
    cli_error(capsys, lesson7_paddy, 'not divisible', '[1, 2, 4, 8, 16, 32, 64]', path=str(small), bs=64, accum=3, out=o)

def test_label_only_in_validation_split(small, tmp_path):
    "A variety whose only photo falls in the validation split still gets a vocab entry (from train.csv), so training runs"
    from lesson7_companion.multi_target import paddy_dls, paddy_learner, head_vocabs
    p = shutil.copytree(small, tmp_path/'paddy')
    dls = paddy_dls(p, bs=16)
    only = dls.valid_ds.items[0].name                       # a photo the seed-42 split puts in validation
    df = pd.read_csv(p/'train.csv', dtype=str)
    df.loc[df.image_id == only, 'variety'] = 'OnlyInValid'
    df.to_csv(p/'train.csv', index=False)
    dls = paddy_dls(p, bs=16)
    assert only in [f.name for f in dls.valid_ds.items] and 'OnlyInValid' in head_vocabs(dls)[1]
    learn = paddy_learner(dls)
    learn.fit(1, 1e-3)                                      # fastai's "not included in the training dataset" would stop this
    assert len(learn.recorder.values) == 1

@pytest.mark.parametrize('content', [b'', b'\xff\xd8\xff\xe0 truncated', b'random bytes, not a JPEG at all'])
def test_broken_image_named_before_training(small, tmp_path, capsys, content):
    "A zero-byte, truncated or random-bytes JPEG in your folder is named in one line before any training, and no run folder is left"
    from lesson7_companion.cli import lesson7_paddy
    p = shutil.copytree(small, tmp_path/'paddy')
    f = sorted((p/'train_images').rglob('*.jpg'))[3]; f.write_bytes(content)
    cli_error(capsys, lesson7_paddy, 'not readable images', f.name, path=str(p), epochs=1, size=32, bs=16, out=str(tmp_path/'run'))
    assert not (tmp_path/'run').exists()

def test_aug_flag_reaches_the_data(small, tmp_path):
    "`--aug` reaches the training: the run records it in its settings"
    from lesson7_companion.cli import lesson7_paddy
    lesson7_paddy(path=str(small), epochs=1, size=32, bs=16, aug=True, out=str(tmp_path/'aug'))
    m = json.loads((tmp_path/'aug'/'metrics.json').read_text())
    assert m['settings']['aug'] is True

def test_ctrl_c_is_one_line(small, tmp_path):
    """A real SIGINT once training has started: one line, the shell's status 130, and no run folder, whole or partial.
    The signal is sent when the epoch table's header is printed, whatever the machine's speed; the run asks for more epochs
    than any machine finishes, and the wait after the signal is a deadline far above the second it normally takes."""
    import os, signal, subprocess, sys
    from pathlib import Path
    exe = Path(sys.executable).parent/'lesson7-paddy'
    p = subprocess.Popen([str(exe), '--path', str(small), '--epochs', '100000', '--size', '32', '--bs', '16', '--out', str(tmp_path/'run')],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'},
                         preexec_fn=as_in_a_terminal)
    for line in p.stdout:   # fastai prints the table's header when `fit` starts
        if 'train_loss' in line: break
    p.send_signal(signal.SIGINT)
    _,err = p.communicate(timeout=600)
    assert p.returncode == 130 and err.strip().splitlines() == ['lesson7-paddy: interrupted.'], err
    assert list(tmp_path.iterdir()) == []
