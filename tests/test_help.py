"Each command's `--help` comes from a spec saved from its real parser, without torch; the spec is current; the help has words"
import os, re, subprocess, sys, tomllib
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path
import pytest
from fastcore.script import anno_parser
from conftest import ROOT

BIN = Path(sys.executable).parent
HEAVY = {'torch', 'fastai', 'timm'}

@pytest.fixture(scope='module')
def commands():
    from lesson7_companion import cli
    from lesson7_companion.commands import commands_of
    return commands_of(vars(cli))

@pytest.fixture
def columns(monkeypatch):
    "One terminal width for the parsers built here and in the commands' own processes"
    monkeypatch.setenv('COLUMNS', '100')
    return {**os.environ, 'COLUMNS': '100'}

def test_scripts_run_every_command_through_the_light_module(commands):
    scripts = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['scripts']
    assert scripts == {k.replace('_', '-'): f'lesson7_companion.commands:{k}' for k in commands}, scripts

def test_saved_spec_is_current(commands):
    from lesson7_companion import _cli_spec
    from lesson7_companion.commands import command_spec
    assert _cli_spec.specs == {k:command_spec(f) for k,f in commands.items()}, \
        'the saved command specs differ from the commands: run nbs/95_cli.ipynb (its `write_specs` cell) and commit lesson7_companion/_cli_spec.py'

def _outcome(p, argv):
    "What parser `p` makes of `argv`: the parsed values (choices as their words), or its exit status and stderr"
    with redirect_stderr(err := StringIO()):
        try: return {k:str(v) for k,v in vars(p.parse_args(argv)).items()}
        except SystemExit as e: return e.code, err.getvalue()

def test_spec_parser_is_the_real_parser(commands, columns):
    "The same help, to the character, and the same answer to no options, an unknown flag, and a word where a number or choice goes"
    from lesson7_companion.commands import spec_parser
    for k,f in commands.items():
        prog = k.replace('_', '-')
        real,saved = anno_parser(f, prog),spec_parser(k, prog)
        assert saved.format_help() == real.format_help(), prog
        bad = [[a.option_strings[-1], 'x'] for a in real._actions if a.option_strings and (a.type in (int, float) or a.choices)]
        for argv in [[], ['--nope'], *bad]: assert _outcome(saved, argv) == _outcome(real, argv), (prog, argv)

def _imported(stderr):
    "The top-level packages in `python -X importtime`'s report"
    return {l.rsplit('|', 1)[1].strip().split('.')[0] for l in stderr.splitlines() if l.startswith('import time:') and '|' in l}

def test_help_of_every_console_script_imports_no_torch(commands, columns):
    "What a user runs: the installed script prints the real parser's help, and torch, fastai and timm are never imported"
    for k,f in commands.items():
        prog = k.replace('_', '-')
        r = subprocess.run([sys.executable, '-X', 'importtime', str(BIN/prog), '--help'], capture_output=True, text=True, env=columns, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout == anno_parser(f, prog).format_help(), prog
        heavy = _imported(r.stderr) & HEAVY
        assert not heavy, f'{prog} --help imported {heavy}'

def test_usage_error_imports_no_torch(columns):
    r = subprocess.run([sys.executable, '-X', 'importtime', str(BIN/'lesson7-collab'), '--model', 'svd'], capture_output=True, text=True, env=columns, timeout=120)
    assert r.returncode == 2 and "lesson7-collab: error: argument --model: invalid CollabModel value: 'svd'" in r.stderr, r.stderr[-2000:]
    assert not _imported(r.stderr) & HEAVY

def test_every_flag_has_words(commands):
    "No flag shows only its type: each says what it is; no description sends the reader to another function's `kwargs`"
    for k,f in commands.items():
        p = anno_parser(f, k.replace('_', '-'))
        assert '`kwargs`' not in p.description and 'kwargs' not in p.format_help(), k
        for a in p._actions:
            if a.help == '==SUPPRESS==': continue
            words = re.findall(r'[A-Za-z]{2,}', re.sub(r'\(default: .*\)$', '', a.help or ''))
            assert len(words) >= 2, f'{k}: {a.option_strings or a.dest} has no description ({a.help!r})'

def test_tour_help_says_what_and_how_long(commands):
    doc = commands['lesson7_tour'].__doc__
    assert re.search(r'\d+ min', doc) and 'CPU' in doc, doc
    for step in ('cross-entropy', 'gradient accumulation', 'weight decay'): assert step in doc, (step, doc)
