"The command-line boundary: options checked before any work, run folders that never overwrite a user's files and are complete or absent"
import errno, json, math
from pathlib import Path
import pytest
from conftest import cli_error, snapshot, run
from lesson7_companion.cli import user_errors
from lesson7_companion.cli import lesson7_paddy, lesson7_accum_bench, lesson7_paddy_bench, lesson7_collab
from lesson7_companion.collab_interpret import train_collab

NOWHERE = '/nonexistent/lesson7'   # a data folder that does not exist: an error about it would mean the data was read first

@pytest.fixture
def mine(tmp_path):
    "A user's folder of their own files, and a link to it"
    d = tmp_path/'mine'; d.mkdir()
    for f in ('metrics.json', 'loss.png', 'model.pkl', 'submission.csv', 'biases.json', 'pca.png'): (d/f).write_text(f'my {f}')
    (tmp_path/'link').symlink_to(d)
    return d

@pytest.mark.parametrize('cmd', [lesson7_paddy, lesson7_collab])
def test_out_never_overwritten(cmd, mine, tmp_path, capsys):
    before = snapshot(mine)
    cli_error(capsys, cmd, str(mine), 'a folder with files in it', 'left untouched', path=NOWHERE, out=str(mine))
    cli_error(capsys, cmd, 'is a link', path=NOWHERE, out=str(tmp_path/'link'))
    cli_error(capsys, cmd, 'is a file', path=NOWHERE, out=str(mine/'metrics.json'))
    assert snapshot(mine) == before and (tmp_path/'link').is_symlink()

@pytest.mark.parametrize('opt,val,words', [('epochs', 0, '--epochs must be a whole number of at least 1, not 0'), ('epochs', -1, '--epochs'),
    ('lr', 0., '--lr must be a positive finite number, not 0.0'), ('lr', -1., '--lr'), ('lr', math.nan, 'not nan'), ('lr', math.inf, 'not inf'),
    ('bs', 0, '--bs must be a whole number')])
def test_options_checked_first(opt, val, words, tmp_path, capsys):
    for cmd in (lesson7_paddy, lesson7_collab): cli_error(capsys, cmd, words, path=NOWHERE, out=str(tmp_path/'o'), **{opt: val})
    assert not (tmp_path/'o').exists()

def test_more_options_checked_first(tmp_path, capsys):
    o = str(tmp_path/'o')
    cli_error(capsys, lesson7_collab, '--wd must be a non-negative finite number, not -1.0', path=NOWHERE, wd=-1., out=o)
    cli_error(capsys, lesson7_paddy, 'micro-batches of one image', 'BatchNorm', path=NOWHERE, bs=1, out=o)
    cli_error(capsys, lesson7_paddy, 'micro-batches of one image', path=NOWHERE, bs=4, accum=4, out=o)
    cli_error(capsys, lesson7_paddy_bench, "timm has no model called 'nope'", path=NOWHERE, archs='resnet10t_quarter,nope')
    cli_error(capsys, lesson7_paddy_bench, '--epochs', path=NOWHERE, epochs=0)
    cli_error(capsys, lesson7_accum_bench, '--bs', path=NOWHERE, bs=0)
    assert not (tmp_path/'o').exists()

def test_collab_bs_larger_than_training_set(ml, tmp_path, capsys):
    cli_error(capsys, lesson7_collab, 'bs=5000 must be between 1 and the 800 training ratings', path=str(ml), bs=5000, out=str(tmp_path/'o'))
    assert not (tmp_path/'o').exists()

def test_run_folder_complete_or_absent(ml, tmp_path, monkeypatch):
    "A failure while writing (here the PCA plot, then a NaN metric) leaves no `out` and no hidden partial folder"
    import lesson7_companion.collab_interpret as ci
    learn,res = train_collab(ml, epochs=1, bs=64, progress=False)
    runs = tmp_path/'runs'; runs.mkdir()
    def boom(*a, **k): raise RuntimeError('plot failed')
    with monkeypatch.context() as m:
        m.setattr(ci, 'plot_movie_pca', boom)
        with pytest.raises(RuntimeError, match='plot failed'): ci._write_collab(learn, res, runs/'run')
    with pytest.raises(ValueError, match='JSON'): ci._write_collab(learn, {**res, 'valid_mse': math.nan}, runs/'run')
    assert list(runs.iterdir()) == []
    ci._write_collab(learn, res, runs/'run')
    assert sorted(p.name for p in (runs/'run').iterdir()) == ['biases.json', 'loss.png', 'metrics.json', 'pca.png']

def _boundary(exc, capsys):
    with pytest.raises(SystemExit) as e:
        with user_errors('lesson7-x'): raise exc
    return e.value.code, capsys.readouterr().err.strip().splitlines()

def test_disk_full_interrupt_and_oom_are_one_line(capsys):
    import torch
    code,lines = _boundary(OSError(errno.ENOSPC, 'No space left on device', '/data/run/model.pkl'), capsys)
    assert code == 2 and lines == ['lesson7-x: error: cannot write /data/run/model.pkl: No space left on device. Free some space or choose another folder.']
    code,lines = _boundary(OSError(errno.EROFS, 'Read-only file system', '/ro/out'), capsys)
    assert code == 2 and len(lines) == 1 and 'cannot write /ro/out: Read-only file system' in lines[0]
    code,lines = _boundary(KeyboardInterrupt(), capsys)
    assert code == 130 and lines == ['lesson7-x: interrupted.']
    code,lines = _boundary(torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB'), capsys)
    assert code == 2 and len(lines) == 1 and 'out of GPU memory' in lines[0] and '--accum' in lines[0]

def test_bugs_keep_their_traceback():
    "An OSError that is not about space or a read-only disk is a bug here: it passes through"
    with pytest.raises(OSError, match='Bad file descriptor'):
        with user_errors('lesson7-x'): raise OSError(errno.EBADF, 'Bad file descriptor')

def test_real_bugs_keep_their_traceback(capsys):
    "Only a `UserError` becomes one line; a built-in exception from inside a library is a bug, and propagates with its traceback"
    from lesson7_companion.cli import user_errors
    from lesson7_companion.core import BadValue, UnknownName
    for err,line in ((BadValue('bs=0 must be at least 1.'), 'bs=0 must be at least 1.'), (UnknownName('No user 7.'), 'No user 7.')):
        with pytest.raises(SystemExit) as e:
            with user_errors('prog'): raise err
        assert e.value.code == 2 and capsys.readouterr().err == f'prog: error: {line}\n'   # no quotes around a KeyError's message
    for bug in (ValueError('a bug'), KeyError('a bug'), RuntimeError('a bug'), FileNotFoundError('a bug')):
        with pytest.raises(type(bug), match='a bug'):
            with user_errors('prog'): raise bug

DRIVER = r'''
import json, sys, io, contextlib
from lesson7_companion.cli import lesson7_collab, lesson7_data
ro,full,ml = sys.argv[1:4]
out = {}
for name,f in (('collab_ro', lambda: lesson7_collab(path=ml, epochs=1, bs=64, out=f'{ro}/run')),
               ('data_ro', lambda: lesson7_data('movielens', dest=f'{ro}/ml')),
               ('collab_full', lambda: lesson7_collab(path=ml, epochs=1, bs=64, out=f'{full}/run'))):
    with contextlib.redirect_stderr(err := io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try: f(); code = 0
        except SystemExit as e: code = e.code
    out[name] = [code, err.getvalue()]
print(json.dumps(out))
'''

def test_read_only_and_full_disk(ml, tmp_path):
    "On a real read-only file system and a real full one (tmpfs mounts in a user namespace): one line each, and nothing left behind"
    import shutil, subprocess, sys
    ro,full = tmp_path/'ro',tmp_path/'full'; ro.mkdir(); full.mkdir()
    assert shutil.which('unshare'), 'this test needs util-linux unshare (user and mount namespaces)'
    script = (f"mount -t tmpfs -o ro,size=1m tmpfs {ro} && mount -t tmpfs -o size=24k tmpfs {full} && "
              f"{sys.executable} -c \"$DRIVER\" {ro} {full} {ml} && ls -A {full}")
    r = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', script], capture_output=True, text=True,
                       env={**__import__('os').environ, 'DRIVER': DRIVER}, timeout=600)
    assert r.returncode == 0, r.stderr
    res,left = json.loads(r.stdout.splitlines()[0]),r.stdout.splitlines()[1:]
    for k,(code,err) in res.items():
        assert code == 2 and err.count('\n') == 1 and 'Traceback' not in err, (k, err)
    assert f'{ro}/run cannot be written: {ro} is on a read-only file system' in res['collab_ro'][1], res['collab_ro'][1]
    assert 'Read-only file system' in res['data_ro'][1] and str(ro) in res['data_ro'][1], res['data_ro'][1]
    assert 'No space left on device' in res['collab_full'][1] and str(full) in res['collab_full'][1], res['collab_full'][1]
    assert left == [], left   # the full disk holds nothing: no half-written run folder

# --- Issue 29: the boundary, second round -------------------------------------------------------------------------
FAST = dict(epochs=1, size=32)

def test_out_inside_the_data_refused(paddy, ml, capsys):
    "A run folder inside the data folder it reads would become part of the data (and fail the folder's own check next time)"
    before = snapshot(paddy)
    cli_error(capsys, lesson7_paddy, 'is inside the data folder', path=str(paddy), out=str(paddy/'train_images'/'run'), **FAST)
    cli_error(capsys, lesson7_collab, 'is inside the data folder', path=str(ml), out=str(ml/'run'), epochs=1)
    assert snapshot(paddy) == before and not (ml/'run').exists()

def test_out_below_a_file(tmp_path, capsys):
    (tmp_path/'notes.txt').write_text('mine')
    for cmd in (lesson7_paddy, lesson7_collab):
        cli_error(capsys, cmd, f"{tmp_path/'notes.txt'} is a file, not a folder", path=NOWHERE, out=str(tmp_path/'notes.txt'/'run'))
    assert (tmp_path/'notes.txt').read_text() == 'mine'

def test_size_too_small(tmp_path, capsys):
    cli_error(capsys, lesson7_paddy, '--size must be at least 2, not 1', path=NOWHERE, size=1, out=str(tmp_path/'o'))
    assert not (tmp_path/'o').exists()

def test_diverged_is_one_line(paddy, tmp_path, capsys):
    "--lr 1e6: the loss turns NaN; one line that says the training diverged, and no run folder"
    line = cli_error(capsys, lesson7_paddy, 'the training diverged', 'Try a smaller --lr', path=str(paddy), lr=1e6, out=str(tmp_path/'o'), **FAST)
    assert not (tmp_path/'o').exists() and not list(tmp_path.glob('.o-partial-*')), line

def test_collab_diverged_is_one_line(ml, tmp_path, capsys):
    "lesson7-collab --lr 1e6: the loss turns NaN (and the PCA plot's SVD fails on it): one line instead, and no run folder"
    line = cli_error(capsys, lesson7_collab, 'the training diverged', 'Try a smaller --lr', path=str(ml), lr=1e6, epochs=1, bs=64, out=str(tmp_path/'o'))
    assert not (tmp_path/'o').exists() and not list(tmp_path.glob('.o-partial-*')), line
    from fastai.learner import defaults
    assert 'StopIfDiverged' not in str(defaults.callbacks)   # only inside the command

def test_pretrained_without_network(paddy, tmp_path):
    "No network and no cached weights (HF_HUB_OFFLINE makes it certain): one line, naming what to download and how"
    from conftest import run_error
    r = run('lesson7-paddy', '--path', str(paddy), '--epochs', '1', '--size', '32', '--pretrained', '--arch', 'resnet18', '--out', str(tmp_path/'o'),
            env=dict(HF_HUB_OFFLINE='1', HF_HUB_CACHE=str(tmp_path/'hub'), HF_HOME=str(tmp_path/'hf'), OMP_NUM_THREADS='1'))
    run_error(r, 'lesson7-paddy', 'pretrained weights of resnet18 cannot be downloaded', '`hf download timm/resnet18.a1_in1k`', 'without --pretrained')
    assert not (tmp_path/'o').exists()

def test_fastai_home_broken(tmp_path, monkeypatch, capsys):
    "FASTAI_HOME pointing at a file, or at a folder whose config.ini is garbage: one line naming it"
    import fastai.data.external as ext
    from lesson7_companion.cli import lesson7_data
    (tmp_path/'notes.txt').write_text('mine'); (tmp_path/'home').mkdir(); (tmp_path/'home'/'config.ini').write_text('garbage[[\n')
    try:
        for home,words in ((tmp_path/'notes.txt', 'is a file'), (tmp_path/'home', 'has a config.ini fastai cannot read')):
            monkeypatch.setenv('FASTAI_HOME', str(home)); ext.fastai_cfg.cache_clear()
            cli_error(capsys, lesson7_data, f'{home}', words, 'FASTAI_HOME', dataset='paddy')
    finally: ext.fastai_cfg.cache_clear()
    assert (tmp_path/'notes.txt').read_text() == 'mine' and (tmp_path/'home'/'config.ini').read_text() == 'garbage[[\n'

def test_docs_commands_outside_a_project(tmp_path, monkeypatch, capsys):
    from lesson7_companion.cli import lesson7_readme, lesson7_docs
    monkeypatch.chdir(tmp_path)
    cli_error(capsys, lesson7_readme, 'is not inside an nbdev project', 'run lesson7-readme from the project')
    cli_error(capsys, lesson7_docs, 'is not inside an nbdev project', dest=str(tmp_path/'site'))
    assert list(tmp_path.iterdir()) == []

def _tiny_proc(tmp):
    "nbdev's processed folder of a two-page project, for building a real (small) site fast"
    import nbformat
    proc = tmp/'_proc'; proc.mkdir(exist_ok=True)
    (proc/'_quarto.yml').write_text("project:\n  type: website\n  output-dir: _docs\nmetadata-files: [sidebar.yml]\n")
    (proc/'sidebar.yml').write_text("website:\n  sidebar:\n    contents:\n      - index.ipynb\n      - 01_lesson.ipynb\n")
    for fn,title,out in (('index.ipynb', 'Home', 'index.html'), ('01_lesson.ipynb', 'A lesson', 'lesson.html')):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell(f"---\ntitle: {title}\noutput-file: {out}\n---"),
                                                       nbformat.v4.new_markdown_cell('Some words.')]), proc/fn)
    return proc

def test_docs_never_over_another_site(tmp_path, monkeypatch, capsys):
    "`lesson7-docs --dest` at another site's folder (site_libs/ and the user's own files) is refused in one line and left byte for byte; "
    "an absent or empty folder, or a site it built before, is built into (the last replaced)"
    import lesson7_companion.docs as docs
    from lesson7_companion.cli import lesson7_docs
    monkeypatch.setattr(docs, 'proc_nbs', lambda *a, **k: _tiny_proc(tmp_path))   # the whole project's notebooks would take a minute
    monkeypatch.setattr(docs, 'math_url', lambda *a, **k: None)
    other = tmp_path/'other'; (other/'site_libs').mkdir(parents=True)
    for f,txt in (('index.html', '<p>my site</p>'), ('site_libs/quarto.js', '//'), ('notes.txt', 'mine'), ('search.json', '[]')): (other/f).write_text(txt)
    before = snapshot(other)
    cli_error(capsys, lesson7_docs, str(other), 'is not a docs site built before', dest=str(other))
    assert snapshot(other) == before
    empty = tmp_path/'empty'; empty.mkdir()
    for d in (tmp_path/'absent', empty):
        out,_ = docs.build_docs(d)
        assert out == d and (d/'index.html').is_file() and (d/'lesson.html').is_file()
    (empty/'stale.html').write_text('a page an older build made')
    docs.build_docs(empty)                                                # a site it built before: replaced
    assert (empty/'lesson.html').is_file() and not (empty/'stale.html').exists()

def test_commands_suggest_commands(tmp_path, capsys):
    "A lesson function's hint names its Python call; the same error printed by a command names the command to type"
    from lesson7_companion.cli import lesson7_data
    (tmp_path/'x').mkdir()
    line = cli_error(capsys, lesson7_data, '`lesson7-data paddy --source kaggle`', '`lesson7-data paddy`', dataset='paddy', path=str(tmp_path/'x'))
    assert 'get_paddy(' not in line, line

MOUNTS = r'''
import json, sys, io, os, contextlib
from lesson7_companion.cli import lesson7_paddy, lesson7_collab
paddy,ml,full,mnt = sys.argv[1:5]
out = {}
for name,f in (('paddy_mount', lambda: lesson7_paddy(path=paddy, epochs=1, size=32, out=mnt)),
               ('collab_mount', lambda: lesson7_collab(path=ml, epochs=1, bs=64, out=mnt)),
               ('paddy_full', lambda: lesson7_paddy(path=paddy, epochs=1, size=32, out=f'{full}/run'))):
    with contextlib.redirect_stderr(err := io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try: f(); code = 0
        except SystemExit as e: code = e.code
    out[name] = [code, err.getvalue()]
print(json.dumps(out))
'''

def test_mount_point_and_full_disk_while_writing_the_model(paddy, ml, tmp_path):
    "--out a mount point (EBUSY on rename): refused first. A tmpfs with room for the plots but not model.pkl: one line, nothing left"
    import shutil, subprocess, sys
    full,mnt = tmp_path/'full',tmp_path/'mnt'; full.mkdir(); mnt.mkdir()
    assert shutil.which('unshare'), 'this test needs util-linux unshare (user and mount namespaces)'
    script = (f"mount -t tmpfs -o size=1m tmpfs {mnt} && mount -t tmpfs -o size=400k tmpfs {full} && "
              f"{sys.executable} -c \"$DRIVER\" {paddy} {ml} {full} {mnt} && ls -A {full} {mnt}")
    r = subprocess.run(['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c', script], capture_output=True, text=True,
                       env={**__import__('os').environ, 'DRIVER': MOUNTS, 'OMP_NUM_THREADS': '1'}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res,left = json.loads(r.stdout.splitlines()[0]),[l for l in r.stdout.splitlines()[1:] if l.strip() and not l.endswith(':')]
    for k,(code,err) in res.items(): assert code == 2 and err.count('\n') == 1 and 'Traceback' not in err, (k, err)
    for k in ('paddy_mount', 'collab_mount'): assert f'{mnt} is a mount point' in res[k][1], res[k][1]
    assert f'cannot write {full}/run' in res['paddy_full'][1] and 'No space left on device' in res['paddy_full'][1], res['paddy_full'][1]
    assert left == [], left   # neither tmpfs holds anything: no half-written model.pkl, no hidden partial folder
