"""A student's *Run All*: every notebook executed top to bottom in a real Jupyter kernel (nbclient and ipykernel, what
Jupyter's "Run All" does), every cell included, `slow` and `cuda` ones too, on a CPU with no GPU, no Kaggle credentials
and no network, and a fresh fastai data folder. Long, GPU and real-data cells must say in one line that they do nothing
here, and no cell may raise. How long each notebook took is a table at the end of pytest's report (the budget is 5 minutes
a notebook on a 2-core laptop); it is measured, not asserted, so a loaded machine cannot fail the test."""
import os, time
import nbformat, pytest
from nbclient import NotebookClient
from conftest import ROOT

NOTEBOOKS = sorted(p.name for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
CELL_TIMEOUT = 1800  # seconds: only so that a hung kernel ends the test, far above any cell's time

@pytest.fixture(scope='session')
def student_env(tmp_path_factory):
    "What a new student's machine has: no GPU, no Kaggle account, nothing downloaded, and no test or long-run switches"
    home = tmp_path_factory.mktemp('student')
    env = {k:v for k,v in os.environ.items() if not k.startswith(('KAGGLE_', 'IN_TEST', 'LESSON7_', 'PYTEST'))}
    env.update(CUDA_VISIBLE_DEVICES='', FASTAI_HOME=str(home/'fastai'), KAGGLE_CONFIG_DIR=str(home/'kaggle'))
    return env

@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_run_all(nb, student_env, monkeypatch, record_property):
    for k in list(os.environ): monkeypatch.delenv(k)
    for k,v in student_env.items(): monkeypatch.setenv(k, v)   # the kernel inherits this process's environment
    book = nbformat.read(ROOT/'nbs'/nb, as_version=4)
    client = NotebookClient(book, timeout=CELL_TIMEOUT, kernel_name='python3', resources={'metadata': {'path': str(ROOT/'nbs')}})
    t = time.time()
    client.execute()   # raises CellExecutionError, with the cell and its traceback, on the first cell that fails
    record_property('run_all_seconds', round(time.time() - t, 1))   # conftest prints these as a table
    skipped = [c for c in book.cells if c.cell_type == 'code' and c.source.lstrip().startswith(('#| slow', '#| cuda'))]
    for c in skipped:   # each long, GPU or real-data cell said in one line why it did nothing here
        text = ''.join(o.get('text', '') for o in c.outputs if o.output_type == 'stream')
        assert 'Skipped: ' in text, f"{nb}: this cell ran on a student's CPU:\n{c.source[:300]}"
    warned = [f'{nb}: {line[:200]}' for c in book.cells if c.cell_type == 'code' for o in c.outputs
              if o.output_type == 'stream' and o.name == 'stderr' for line in o.text.splitlines() if 'Warning' in line]
    assert not warned, "a warning a student can do nothing about (fix it at its cause, or filter it where the project owns the call):\n" + '\n'.join(warned)
