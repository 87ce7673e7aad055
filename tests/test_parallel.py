"`lesson7-paddy` under the real launchers: `accelerate launch` with two CPU processes, two `torchrun` machines on this one, and what goes wrong"
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import pytest
from fastcore.basics import num_cpus
from torch.distributed.elastic.utils.distributed import get_free_port as free_port
from conftest import as_in_a_terminal

BIN = Path(sys.executable).parent
PADDY = str(BIN/'lesson7-paddy')
ENV = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': ''}   # CPU processes (gloo), GPUs or not

def short(paddy, out, *more): return [PADDY, '--path', str(paddy), '--epochs', '1', '--size', '32', '--out', str(out), *more]

def torchrun(*args, procs=2, port=None, pre=(), **kw):
    cmd = [*pre, str(BIN/'torchrun'), f'--nproc_per_node={procs}', f'--master_port={port or free_port()}', *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, **kw)

def no_traceback_from_a_process(err):
    "torchrun puts `[rankN]:` before each line of a process's uncaught traceback; the companion's processes print none"
    assert '[rank0]' not in err and '[rank1]' not in err, err[-3000:]

def ours(err, prog='lesson7-paddy'): return [l for l in err.splitlines() if l.startswith(f'{prog}:')]

def check_run(out, procs=2, accum=1):
    "A complete run folder, written by one process, for `procs` processes"
    assert sorted(o.name for o in out.iterdir()) == ['loss.png', 'metrics.json', 'model.pkl', 'submission.csv']
    assert not [o for o in out.parent.iterdir() if o.name.startswith('.')]   # no folder left half-built
    m = json.loads((out/'metrics.json').read_text())
    assert (m['processes'], m['accum'], m['micro_bs']) == (procs, accum, 32//(procs*accum)), m
    return m

def test_accelerate_launch_two_cpu_processes(paddy, tmp_path):
    "The real `accelerate launch`, two CPU processes, accumulation over 2 micro-batches: one table, one JSON line, one complete run folder"
    cmd = [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
           '--dynamo_backend', 'no', '--main_process_port', str(free_port()), *short(paddy, tmp_path/'run', '--accum', '2')]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('train_loss') == 1 and len([l for l in r.stdout.splitlines() if l.startswith('{')]) == 1, r.stdout   # rank 0 alone reports
    m = check_run(tmp_path/'run', accum=2)
    assert m['all_reduces'] > 0

def test_two_machines(paddy, tmp_path):
    "Two torchrun 'machines' of one process each, meeting on localhost: one run, written once; as many all-reduces as two processes on one machine"
    port = free_port()
    node = lambda rank: subprocess.Popen([str(BIN/'torchrun'), '--nnodes=2', '--nproc_per_node=1', f'--node_rank={rank}', '--master_addr=127.0.0.1',
                                          f'--master_port={port}', *short(paddy, tmp_path/'run')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    nodes = [node(0), node(1)]
    outs = [p.communicate(timeout=300) for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], [o[1][-2000:] for o in outs]
    m = check_run(tmp_path/'run')
    r = torchrun(*short(paddy, tmp_path/'one_machine'))   # the same two processes on one machine
    assert r.returncode == 0, r.stderr[-3000:]
    assert m['all_reduces'] == check_run(tmp_path/'one_machine')['all_reduces'] > 0

def test_batch_the_processes_cannot_share(paddy, tmp_path):
    r = torchrun(*short(paddy, tmp_path/'run', '--bs', '33'))
    assert r.returncode != 0 and ours(r.stderr) == ['lesson7-paddy: error: bs=33 cannot be shared by 2 processes into batches of at least 2 images '
                                                    '(BatchNorm needs 2): use a multiple of 2 from 4 up, such as 32 or 34.'], r.stderr[-3000:]
    no_traceback_from_a_process(r.stderr); assert not (tmp_path/'run').exists()

def test_more_processes_than_cores(paddy, tmp_path):
    r = torchrun(*short(paddy, tmp_path/'run'), pre=['taskset', '-c', '0'])   # this machine, seen through one core
    assert r.returncode != 0 and ours(r.stderr) == ['lesson7-paddy: error: 2 processes on this machine, which has 1 CPU core: '
                                                    'use at most 1 per machine.'], r.stderr[-3000:]
    no_traceback_from_a_process(r.stderr); assert not (tmp_path/'run').exists()

def test_port_in_use(paddy, tmp_path):
    "torchrun finds it before any process starts: it stops at once, its last line names the port"
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); s.listen()
        t = time.time()
        r = torchrun(*short(paddy, tmp_path/'run'), port=s.getsockname()[1])
    assert r.returncode != 0 and time.time()-t < 60 and 'EADDRINUSE' in r.stderr.strip().splitlines()[-1], r.stderr[-3000:]
    assert not (tmp_path/'run').exists()

def start_then(paddy, tmp_path, sig):
    "Start two processes, send `sig` to rank 1 once training runs, and return (exit status, stderr, seconds after the signal)"
    import psutil
    p = subprocess.Popen([str(BIN/'torchrun'), '--nproc_per_node=2', f'--master_port={free_port()}', PADDY, '--path', str(paddy), '--epochs', '200',
                          '--size', '32', '--timeout', '8', '--out', str(tmp_path/'run')], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    for line in p.stdout:   # rank 0 prints the table's header when `fit` starts
        if 'train_loss' in line: break
    rank1, = [c for c in psutil.Process(p.pid).children(recursive=True) if c.environ().get('RANK') == '1']
    rank1.send_signal(sig); t = time.time()
    _,err = p.communicate(timeout=300)
    return p.returncode, err, time.time()-t

def test_a_stalled_process_times_out(paddy, tmp_path):
    "Rank 1 stops answering (SIGSTOP): rank 0 gives up after --timeout with one line, and nothing is written"
    code,err,secs = start_then(paddy, tmp_path, signal.SIGSTOP)
    lines = ours(err)
    assert code != 0 and len(lines) == 1 and 'lost contact with the other processes: ' in lines[0] and 'for 8 s' in lines[0], err[-3000:]
    assert 'timed out' in lines[0].lower() or 'timeout' in lines[0].lower(), lines[0]   # gloo's words: where in the step it waited decides which
    no_traceback_from_a_process(err); assert not (tmp_path/'run').exists()
    assert secs < 120, secs   # the timeout, then the launcher's grace period before it kills the stopped process

def test_a_crashed_process(paddy, tmp_path):
    "Rank 1 is killed: the launcher stops the run and names the rank; no traceback from the companion, nothing written"
    code,err,secs = start_then(paddy, tmp_path, signal.SIGKILL)
    assert code != 0 and 'Signal 9 (SIGKILL) received' in err and secs < 60, err[-3000:]
    assert len(ours(err)) <= 1   # rank 0 says it lost contact, unless the launcher stopped it first
    no_traceback_from_a_process(err); assert not (tmp_path/'run').exists()

def test_a_process_leaves_its_group_at_exit():
    "Importing `data_parallel` registers fastai's `teardown_distrib` to run at exit: gloo's threads can abort a process that exits in its group"
    code = ("import atexit, torch.distributed as dist; atexit.register(lambda: print('in the group at the end:', dist.is_initialized()))\n"
            "import lesson7_companion.data_parallel\n"   # its handler, registered later, runs first
            f"dist.init_process_group('gloo', init_method='tcp://127.0.0.1:{free_port()}', rank=0, world_size=1)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 0 and 'in the group at the end: False' in r.stdout, (r.stdout, r.stderr[-2000:])

def test_parallel_bench(paddy):
    r = subprocess.run([str(BIN/'lesson7-parallel-bench'), '--path', str(paddy), '--epochs', '1', '--size', '32', '--accums', '2'],
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [l.split() for l in r.stdout.splitlines()[2:]]
    assert r.stdout.splitlines()[1].split()[:4] == ['processes', 'accum', 'threads_each', 'micro_bs'] and len(rows) == 2, r.stdout
    reduces = {int(o[0]): int(o[6]) for o in rows}
    assert reduces[1] == 0 and reduces[2] > 0, r.stdout   # no DDP on one process

def test_parallel_bench_refuses_bad_settings_first(capsys):
    from conftest import cli_error
    from lesson7_companion.cli import lesson7_parallel_bench
    cli_error(capsys, lesson7_parallel_bench, '--procs takes comma-separated whole numbers', "not '1,x'", procs='1,x', path='/nowhere')
    cli_error(capsys, lesson7_parallel_bench, '--accums must be a whole number of at least 1, not 0', accums='0', path='/nowhere')
    cli_error(capsys, lesson7_parallel_bench, f'{num_cpus()+1} processes on this machine', procs=f'1,{num_cpus()+1}', path='/nowhere')
    cli_error(capsys, lesson7_parallel_bench, 'bs=30 cannot be shared by 1 process x 4 micro-batches', bs=30, procs='1', path='/nowhere')   # 1: no devices message first on a 1-GPU machine

LAUNCHERS = {'torchrun': lambda: [str(BIN/'torchrun'), '--nproc_per_node=2', f'--master_port={free_port()}'],
             'accelerate': lambda: [str(BIN/'accelerate'), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1', '--mixed_precision', 'no',
                                    '--dynamo_backend', 'no', '--main_process_port', str(free_port())]}

@pytest.mark.parametrize('launcher', list(LAUNCHERS))
def test_ctrl_c_under_a_launcher(launcher, paddy, tmp_path):
    """Ctrl-C in a terminal sends SIGINT to the launcher's whole process group: every process ends, the command says one line
    from one process, no traceback of ours, and no run folder, whole or partial. The signal goes when rank 0 prints the epoch
    table's header (the run asks for more epochs than any machine finishes); the wait after it is a deadline, not a sleep."""
    import psutil
    runs = tmp_path/'runs'; runs.mkdir()
    p = subprocess.Popen([*LAUNCHERS[launcher](), PADDY, '--path', str(paddy), '--epochs', '100000', '--size', '32', '--out', str(runs/'run')],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True,
                         preexec_fn=as_in_a_terminal)   # its own group, and SIGINT's default, as a terminal's job
    tree = lambda: [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
    procs = tree()
    try:
        for line in p.stdout:
            if 'train_loss' in line: break
        procs = tree()
        assert len([q for q in procs[1:] if PADDY in q.cmdline()]) == 2, [q.cmdline() for q in procs]   # both ranks are training
        os.killpg(p.pid, signal.SIGINT)
        _,err = p.communicate(timeout=300)
        alive = [' '.join(q.cmdline()[:3]) for q in psutil.wait_procs(procs, timeout=30)[1]]   # read before the clean-up below
    except BaseException:   # end every process it started: the ranks run in sessions of their own, which killpg does not reach
        if p.poll() is None: procs = tree()
        for q in procs:
            try: q.kill()
            except psutil.NoSuchProcess: pass
        p.communicate(); raise
    assert not alive, alive
    assert ours(err) == ['lesson7-paddy: interrupted.'], err[-3000:]
    no_traceback_from_a_process(err); assert 'lesson7_companion' not in err and 'lesson7-paddy", line' not in err, err[-3000:]
    if launcher == 'accelerate': assert p.returncode == 130 and 'Traceback' not in err, (p.returncode, err[-3000:])
    elif 'Traceback' in err:   # torchrun's own report of the signal it got, as for any script it runs
        assert err.strip().splitlines()[-1].startswith('torch.distributed.elastic.multiprocessing.api.SignalException: '), err[-3000:]
    assert p.returncode != 0 and list(runs.iterdir()) == [], (p.returncode, list(runs.iterdir()))
