import io, os, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def paddy_src(tmp_path_factory):
    "A small Paddy sample, built once; tests copy it before changing anything"
    from lesson7_companion.sample_paddy import paddy_sample
    return paddy_sample(tmp_path_factory.mktemp('src')/'paddy', n_train=40, n_test=5)

@pytest.fixture(scope='session')
def ml_src(tmp_path_factory):
    from lesson7_companion.sample_movielens import movielens_sample
    return movielens_sample(tmp_path_factory.mktemp('src')/'ml', n_users=40, n_items=60, n_ratings=1000)

@pytest.fixture
def paddy(paddy_src, tmp_path):
    return Path(shutil.copytree(paddy_src, tmp_path/'paddy'))

@pytest.fixture
def ml(ml_src, tmp_path):
    return Path(shutil.copytree(ml_src, tmp_path/'ml'))

def snapshot(path):
    "Every file under `path` with its bytes, to prove nothing was changed"
    return {p.relative_to(path): p.read_bytes() for p in sorted(Path(path).rglob('*')) if p.is_file()}

def run(*args, env=None, **kw):
    "Run a command of this venv, returning the CompletedProcess; `env` values of None remove that variable"
    exe = Path(sys.executable).parent/args[0]
    env = {k:v for k,v in {**os.environ, **(env or {})}.items() if v is not None}
    return subprocess.run([str(exe) if exe.exists() else args[0], *args[1:]], capture_output=True, text=True, env=env, timeout=600, **kw)

def as_in_a_terminal():
    """`preexec_fn` for a command the test will Ctrl-C: SIGINT back to its default, as a terminal's job has it. A process started
    with SIGINT ignored (a background job of a script, `nohup`, some CI runners, and so pytest-xdist's workers) passes that on
    to its children, and Python then installs no KeyboardInterrupt handler: the signal would do nothing at all."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def cli_error(capsys, cmd, *words, **kwargs):
    "Call the command function `cmd` in-process with `kwargs`; check it exits 2 with one `<prog>: error:` line holding `words`"
    import pytest, warnings
    with warnings.catch_warnings(record=True) as w, pytest.raises(SystemExit) as e:
        warnings.simplefilter('always')
        cmd(**kwargs)
    assert e.value.code == 2
    quiet = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)   # what Python hides from a command's user
    shown = [f'{o.category.__name__}: {o.message}' for o in w if not issubclass(o.category, quiet)]
    assert not shown, shown   # a warning printed before the error line: the user sees more than one line
    lines = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert len(lines) == 1 and ': error: ' in lines[0] and 'Traceback' not in lines[0], lines
    for w in words: assert w in lines[0], lines[0]
    return lines[0]

def run_error(r, prog, *words):
    "Check the finished command `r` exited 2 with one `<prog>: error:` line holding `words`, and no traceback"
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith(f'{prog}: error: '), r.stderr
    for w in words: assert w in lines[0], lines[0]

def zip_of(folder):
    "The competition's zip made from a sample folder: its files, without what only the sample has (hidden marker, lesion masks)"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for p in sorted(Path(folder).rglob('*')):
            if p.is_file() and not p.name.startswith('.') and 'lesion_masks' not in p.relative_to(folder).parts: z.write(p, p.relative_to(folder))
    return buf.getvalue()

# The second tier: proofs that take long (every idea broken and its check seen failing, claims over many runs, a student's
# Run All of every notebook, real processes under the launchers). `pytest` leaves them out (pyproject's addopts);
# `pytest -m proof` runs them, and .ci/run does both.
PROOFS = {'test_ideas.py', 'test_run_all.py', 'test_parallel.py'}

def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in PROOFS: item.add_marker(pytest.mark.proof)

def pytest_terminal_summary(terminalreporter):
    "The seconds each notebook's Run All took (tests/test_run_all.py), as a table"
    reps = [r for k in ('passed', 'failed') for r in terminalreporter.stats.get(k, []) if getattr(r, 'when', '') == 'call']
    rows = [(r.nodeid.split('[')[-1].rstrip(']'), v) for r in reps for k,v in r.user_properties if k == 'run_all_seconds']
    if not rows: return
    terminalreporter.write_sep('-', "a student's Run All, seconds a notebook")
    for nb,secs in sorted(rows): terminalreporter.write_line(f'{nb:<32}{secs:>8.1f}')
    terminalreporter.write_line(f"{'all':<32}{sum(s for _,s in rows):>8.1f}")
