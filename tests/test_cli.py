"`lesson7-data` builds the samples, checks folders, and reports bad input in one line"
from conftest import run, snapshot, cli_error

def test_paddy_sample(tmp_path):
    r = run('lesson7-data', 'paddy', '--dest', str(tmp_path/'p'))
    assert r.returncode == 0, r.stderr
    assert '1,000 train images (10 labels, 10 varieties), 100 test images' in r.stdout
    assert 'bacterial_panicle_blight' in r.stdout and 'ADT45' in r.stdout
    assert (tmp_path/'p'/'train.csv').exists()

def test_movielens_sample(tmp_path, capsys):
    from lesson7_companion.cli import lesson7_data   # in-process: test_paddy_sample runs the real command line
    lesson7_data('movielens', dest=str(tmp_path/'m'))
    out = capsys.readouterr().out
    assert 'ratings of' in out and 'rating histogram: 1:' in out
    assert (tmp_path/'m'/'u.data').exists()

def test_compare(ml, capsys):
    "`--compare` puts a folder's statistics beside ml-100k's: a small dense sample is far from it, and says so"
    from lesson7_companion.cli import lesson7_data
    lesson7_data('movielens', path=str(ml), compare=True)
    out = capsys.readouterr().out
    assert 'Beside the real data:' in out and 'density' in out
    assert 'statistics outside their tolerance' in out.splitlines()[-1], out[-500:]

def test_check_existing_folder(paddy, capsys):
    from lesson7_companion.cli import lesson7_data
    before = snapshot(paddy)
    lesson7_data('paddy', path=str(paddy))
    assert '40 train images' in capsys.readouterr().out
    assert snapshot(paddy) == before

def test_invalid_path(tmp_path, capsys):
    from lesson7_companion.cli import lesson7_data
    (tmp_path/'x').mkdir()
    cli_error(capsys, lesson7_data, 'no train.csv', dataset='paddy', path=str(tmp_path/'x'))
    cli_error(capsys, lesson7_data, 'u.data', dataset='movielens', path=str(tmp_path/'x'))

def test_unknown_dataset_and_source(capsys):
    from lesson7_companion.cli import lesson7_data
    cli_error(capsys, lesson7_data, "use 'paddy' or 'movielens'", dataset='cifar')
    cli_error(capsys, lesson7_data, "'ml-100k'", dataset='movielens', source='ml-1m')

def test_tour_and_docs_bad_input(tmp_path, capsys):
    "`lesson7-tour` and `lesson7-docs` refuse bad settings, or a folder of yours, in one line before doing any work"
    from lesson7_companion.cli import lesson7_tour
    from lesson7_companion.cli import lesson7_docs
    mine = tmp_path/'mine'; mine.mkdir(); (mine/'notes.txt').write_text('keep me')
    before = snapshot(mine)
    cli_error(capsys, lesson7_tour, 'not from a tour', out=str(mine))
    cli_error(capsys, lesson7_tour, 'is a file', out=str(mine/'notes.txt'))
    cli_error(capsys, lesson7_tour, 'Use one of [1, 2, 4, 8, 16, 32]', out=str(tmp_path/'t'), accum=3)
    cli_error(capsys, lesson7_tour, '--collab-epochs must be', out=str(tmp_path/'t'), collab_epochs=0)
    cli_error(capsys, lesson7_tour, 'is not a folder', out=str(tmp_path/'t'), paddy=str(tmp_path/'nowhere'))
    cli_error(capsys, lesson7_docs, 'is not a docs site built before', dest=str(mine))
    assert snapshot(mine) == before and not (tmp_path/'t').exists()

# --- Issue 29: the commands under launchers -----------------------------------------------------------------------
import os, re, subprocess, sys
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent
LAUNCHED = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}   # CPU processes, on a machine with GPUs too

@pytest.mark.parametrize('args,line', [
    (['--nope'], 'lesson7-paddy: error: unrecognized arguments: --nope (`lesson7-paddy --help` lists the options)'),
    (['--epochs', '0'], 'lesson7-paddy: error: --epochs must be a whole number of at least 1, not 0.'),
    (['--path', '/nowhere/paddy'], 'lesson7-paddy: error: /nowhere/paddy is not a folder.')], ids=['unknown flag', 'epochs 0', 'bad path'])
def test_user_error_under_torchrun(args, line):
    "A user error under torchrun (argparse's, or the command's own): one line from one process, no traceback of ours (the launcher's own failure report after it is the launcher's)"
    from torch.distributed.elastic.utils.distributed import get_free_port as free_port
    r = subprocess.run([str(BIN/'torchrun'), '--nproc_per_node=2', f'--master_port={free_port()}', str(BIN/'lesson7-paddy'), *args],
                       capture_output=True, text=True, env=LAUNCHED, timeout=300)
    ours = [l for l in r.stderr.splitlines() if l.startswith(('lesson7-paddy', 'usage:'))]
    assert r.returncode != 0 and len(ours) == 1 and ours[0].startswith(line), r.stderr[-3000:]
    assert not re.search(r'lesson7_companion/\w+\.py', r.stderr), r.stderr[-3000:]   # no traceback through our code, from either process

@pytest.mark.skipif(__import__('torch').cuda.is_available(), reason='on a machine with GPUs accelerate starts the processes asked for')
@pytest.mark.parametrize('cpu', [[], ['--cpu']], ids=['plain', '--cpu'])
def test_accelerate_one_process_says_so(paddy, tmp_path, cpu):
    "`accelerate launch --num_processes 2` without --multi_gpu on a machine without GPUs starts one process: the command says so in one line (with --cpu: drop it)"
    r = subprocess.run([str(BIN/'accelerate'), 'launch', *cpu, '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no',
                        str(BIN/'lesson7-paddy'), '--path', str(paddy), '--epochs', '1', '--size', '32', '--out', str(tmp_path/'run')],
                       capture_output=True, text=True, env=LAUNCHED, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    notes = [l for l in r.stderr.splitlines() if l.startswith('lesson7-paddy:')]
    assert len(notes) == 1 and 'accelerate started one process, not the several asked for' in notes[0] and '--multi_gpu' in notes[0], r.stderr[-3000:]
    assert ('without --cpu' in notes[0]) == bool(cpu), notes[0]   # accelerate refuses --cpu beside --multi_gpu
    assert (tmp_path/'run'/'metrics.json').exists()
