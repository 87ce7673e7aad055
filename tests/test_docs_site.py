"""The docs site builds without Quarto (`build_docs`, as `lesson7-docs` does) and works in a real browser: headless Chromium,
offline, opens every page of the sidebar and sees what a reader sees (formulas drawn, tables legible, no warnings in outputs).
Screenshots go to runs/test_docs_site/."""
import functools, importlib, inspect, json, os, re, shutil, threading, time
from html import unescape
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse
import pytest, yaml
from conftest import ROOT
from lesson7_companion.docs import is_lesson

# Debian's chromium and chromium-driver (what .ci/run installs); elsewhere, say on GitHub's runners, Google Chrome and its driver
CHROMIUM = os.environ.get('LESSON7_CHROMIUM') or shutil.which('chromium') or shutil.which('google-chrome') or '/usr/bin/chromium'
DRIVER = (os.environ.get('LESSON7_CHROMEDRIVER') or shutil.which('chromedriver')
          or os.path.join(os.environ.get('CHROMEWEBDRIVER', '/usr/bin'), 'chromedriver'))
SHOTS = ROOT/'runs'/'test_docs_site'
MODULES = ['data', 'cross_entropy', 'multi_target', 'grad_accum', 'data_parallel', 'ensemble', 'mid_level', 'collab', 'collab_interpret', 'tour', 'docs', 'cli', 'commands']

def _sidebar():
    "(notebook, page, title) for each entry of nbs/sidebar.yml, in order; the title is the notebook's first markdown heading"
    from fastcore.nbio import read_nb
    from nbdev.doclinks import nbpath2html
    def walk(items):
        for o in items:
            if isinstance(o, dict): yield from walk(o.get('contents', []))
            else: yield o
    out = []
    for nb in walk(yaml.safe_load((ROOT/'nbs/sidebar.yml').read_text())['website']['sidebar']['contents']):
        md = next(c.source for c in read_nb(ROOT/'nbs'/nb).cells if c.cell_type == 'markdown' and c.source.startswith('# '))
        out.append((nb, nbpath2html(Path(nb)).name, md.splitlines()[0][2:].strip().replace('`', '')))   # as rendered: no backticks
    return out

SIDEBAR = _sidebar()
LESSONS = [(nb, page, title) for nb, page, title in SIDEBAR if is_lesson(nb)]

class _Ids(HTMLParser):
    def __init__(self): super().__init__(); self.ids = set()
    def handle_starttag(self, tag, attrs): self.ids.update(v for k, v in attrs if k in ('id', 'name') and v)

def _ids(html):
    p = _Ids(); p.feed(html); return p.ids

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    from lesson7_companion.docs import build_docs
    out, warns = build_docs(tmp_path_factory.mktemp('site')/'_docs')
    assert warns == [], warns
    return out

@pytest.fixture(scope='module')
def server(site):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_port}/'
    httpd.shutdown()

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    for exe in (CHROMIUM, DRIVER):
        assert Path(exe).exists(), f"{exe} is missing: install Debian's chromium and chromium-driver packages (.ci/run does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', f'--user-data-dir={tmp_path_factory.mktemp("chromium")}',
              '--window-size=1280,1400',
              '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'):   # offline, as on this machine: only the local server answers
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield drv
    drv.quit()

def _open(browser, url):
    browser.get(url)
    for _ in range(100):
        if browser.execute_script('return document.readyState') == 'complete': return
        time.sleep(0.05)
    raise AssertionError(f'{url} did not finish loading')

def test_sidebar_lists_the_lessons_in_order(site, server, browser):
    _open(browser, server + 'index.html')
    got = browser.execute_script("return [...document.querySelectorAll('#quarto-sidebar a.sidebar-link[href]')].map(a => [a.getAttribute('href'), a.innerText.trim()])")
    assert got == [[page, title] for _, page, title in SIDEBAR], got
    assert [nb for nb, _, _ in SIDEBAR][:16] == ['index.ipynb', '00_core.ipynb', '00a_samples.ipynb', '00b_movielens_sample.ipynb', '00c_readers.ipynb',
                                                 '00d_data.ipynb', '00e_reports.ipynb', '01_cross_entropy.ipynb', '02_multi_target.ipynb', '02a_two_heads.ipynb',
                                                 '03_grad_accum.ipynb', '03a_data_parallel.ipynb', '03b_ensemble.ipynb', '04_mid_level.ipynb', '05_collab.ipynb',
                                                 '05a_collab_interpret.ipynb']

def test_every_page_loads_with_working_links_and_images(site, server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    own = (cfg.doc_host + cfg.doc_baseurl).rstrip('/') + '/'  # links nbdev writes to the published site are links inside it
    ids = {p.name: _ids(p.read_text()) for p in site.glob('*.html')}
    problems = []
    for nb, page, title in SIDEBAR:
        _open(browser, server + page)
        browser.save_screenshot(str(SHOTS/f'{Path(page).stem}.png'))   # the top of the page, as a reader first sees it
        h1 = browser.execute_script("const h = document.querySelector('h1.title'); return h ? h.innerText.trim() : null")
        if h1 != title or not browser.title.startswith(title): problems.append(f'{page}: title {h1!r} / {browser.title!r}, expected {title!r}')
        for img in browser.find_elements('css selector', 'img'):   # bring each image into view, so none waits to load
            browser.execute_script('arguments[0].scrollIntoView()', img)
        time.sleep(0.2)
        bad = browser.execute_script("return [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))")
        problems += [f'{page}: image not shown: {s}' for s in bad]
        for href in browser.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)"):
            if href.startswith(own): href = server + href[len(own):]
            if not href.startswith(server): continue
            u = urlparse(href)
            target = u.path[len(urlparse(server).path):] or 'index.html'
            if target.endswith('/'): target += 'index.html'
            if not (site/target).exists(): problems.append(f'{page}: broken link {href}')
            elif u.fragment and target.endswith('.html') and u.fragment not in ids[Path(target).name]:
                problems.append(f'{page}: link to a missing anchor {href}')
    assert not problems, '\n'.join(problems)

@pytest.mark.parametrize('nb,page,title', LESSONS, ids=[p for _, p, _ in LESSONS])
def test_lesson_page_shows_a_plot_and_a_colab_badge(site, server, browser, nb, page, title):
    _open(browser, server + page)
    sizes = browser.execute_script("""return [...document.querySelectorAll('main img[src^="data:image/png"]')].map(
        i => { i.scrollIntoView(); return [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]; })""")
    assert any(w > 100 and h > 50 and shown > 50 for w, h, shown in sizes), f'{page}: no rendered plot ({sizes})'
    badge = browser.execute_script("""const a = document.querySelector('main a[href^="https://colab.research.google.com/github/"]');
        return a ? [a.href, a.querySelector('img') ? a.querySelector('img').naturalWidth : 0] : null""")
    assert badge and badge[0].endswith(f'/nbs/{nb}') and badge[1] > 0, f'{page}: no Open in Colab badge ({badge})'

@pytest.fixture(scope='module')
def seen(site, server, browser):
    "What a reader sees on each page of the sidebar, read once for the three tests below: {page: dict}"
    js = """const cs = s => [...document.querySelectorAll(s)];
        const maths = cs('main .math');
        return {
          cells: cs('main table.dataframe td').map(td => { const s = getComputedStyle(td);
                 return [parseFloat(s.paddingLeft), parseFloat(s.paddingRight), s.textAlign, td.innerText.slice(0, 20)]; }),
          logs: cs('main table.fastprogress').filter(t => t.rows.length > 1)
                 .map(t => [t.parentElement.scrollWidth, t.parentElement.clientWidth, t.rows[0].innerText.slice(0, 40)]),
          maths: maths.length, tex: maths.filter(m => !m.querySelector('.katex')).map(m => m.innerText.slice(0, 40)),
          warnings: cs('main .cell-output').map(o => o.innerText).filter(t => t.includes('Warning'))
                 .map(t => t.split('\\n').find(l => l.includes('Warning')).slice(0, 160))};"""
    out = {}
    for nb, page, title in SIDEBAR:
        _open(browser, server + page)
        out[page] = browser.execute_script(js)
    return out

def test_output_tables_are_padded_right_aligned_and_fit(seen):
    "A DataFrame's cells have room around them and numbers line up at the right; fastai's training table fits the text column"
    assert sum(len(o['cells']) for o in seen.values()) > 100 and any(o['logs'] for o in seen.values())   # the pages do show such tables
    problems = [f'{page}: a DataFrame cell ({txt!r}) with padding {l}px / {r}px, aligned {a}' for page, o in seen.items()
                for l, r, a, txt in o['cells'] if min(l, r) < 4 or a != 'right']
    problems += [f'{page}: a training table {w}px wide in a {cw}px column ({head!r})' for page, o in seen.items()
                 for w, cw, head in o['logs'] if w > cw + 1]
    assert not problems, '\n'.join(problems[:20])

def test_formulas_render_offline(seen):
    "Every formula is drawn by the site's own KaTeX (the browser is offline): none is left as its TeX source"
    assert seen['cross_entropy.html']['maths'] >= 10, seen['cross_entropy.html']   # the cross-entropy lesson is written in formulas
    problems = [f"{page}: {len(o['tex'])} of {o['maths']} formulas left as TeX, such as {o['tex'][:2]}" for page, o in seen.items() if o['tex']]
    assert not problems, '\n'.join(problems)

def test_no_saved_output_shows_a_warning(seen):
    "A warning in a saved output (with the temporary path of the kernel that ran it) alarms a reader and helps no one: fix or filter it"
    problems = [f'{page}: {line}' for page, o in seen.items() for line in o['warnings']]
    assert not problems, '\n'.join(problems)

def _search(browser, word):
    "Type `word` into the search box and return the links of the results shown for it"
    browser.execute_script("document.querySelector('#quarto-search .smalldocs-search-results').innerHTML = ''")
    box = browser.find_element('css selector', '#quarto-search input')
    box.clear(); box.send_keys(word)
    time.sleep(0.3)   # the box waits 120 ms after the last key before it searches
    for _ in range(60):
        if browser.execute_script("return document.querySelector('#quarto-search .smalldocs-search-results').innerHTML") != '': break
        time.sleep(0.05)
    return browser.execute_script("return [...document.querySelectorAll('#quarto-search .search-result')].map(a => a.getAttribute('href'))")

def test_search_finds_each_lesson(site, server, browser):
    entries = json.loads((site/'search.json').read_text())
    pages_with = lambda w: {e['href'].split('#')[0] for e in entries if w.lower() in (e['title'] + ' ' + e.get('section', '') + ' ' + e['text']).lower()}
    _open(browser, server + 'index.html')
    missed = []
    for nb, page, title in LESSONS:
        word = min((w for w in re.findall(r'[A-Za-z]{4,}', title)), key=lambda w: len(pages_with(w)))   # the title's rarest word
        hits = _search(browser, word)
        if not any(h.split('#')[0].removeprefix('./') == page for h in hits): missed.append(f'{word!r} -> {hits[:5]} (wanted {page})')
    assert not missed, missed
    assert _search(browser, 'zzqxwv') == []   # and a word from nowhere finds nothing

def _documented():
    "(module, name, object) for each function and class a module exports, its own code rather than inherited"
    for m in MODULES:
        mod = importlib.import_module(f'lesson7_companion.{m}')
        for n in mod.__all__:
            o = getattr(mod, n)
            if callable(o) and getattr(o, '__module__', '') == mod.__name__: yield m, n, o

def _params_of(m, o):
    "The function whose parameters `o` documents: itself, or its class's own `__init__` (None when that is inherited)"
    if not inspect.isclass(o): return o
    return o.__init__ if getattr(o.__init__, '__module__', None) == f'lesson7_companion.{m}' else None

def test_every_export_has_docments():
    from fastcore.docments import docments
    missing = []
    for m, n, o in _documented():
        f = _params_of(m, o)
        if not (o.__doc__ or '').strip(): missing.append(f'{m}.{n}: no docstring')
        if f is None: continue
        d = docments(f, full=True, args_kwargs=True)
        missing += [f'{m}.{n}({k})' for k, v in d.items() if k not in ('self', 'return') and not v['docment']]
    assert not missing, missing

def test_every_export_has_its_show_doc_entry(site):
    from fastcore.docments import docments
    missing, text = [], {}
    for m, n, o in _documented():
        page = (site/f'{m}.html').read_text()
        if f'id="{n.lower()}"' not in page: missing.append(f'{m}.html has no entry for {n}'); continue
        if m not in text: text[m] = ' '.join(unescape(re.sub(r'<[^>]+>', '', page)).replace('`', '').split())
        if (f := _params_of(m, o)) is None: continue
        var = {p.name for p in inspect.signature(f).parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        for k, v in docments(f, full=True, args_kwargs=True).items():
            doc = ' '.join((v['docment'] or '').replace('`', '').split())
            if k in var:   # show_doc leaves *args and **kwargs out of its list, so the docstring says what they are for
                if f'`{k}`' not in (o.__doc__ or ''): missing.append(f'{m}.{n}: the docstring does not say what `{k}` is for')
            elif k not in ('self', 'return') and doc and doc[:40] not in text[m]:
                missing.append(f'{m}.html: {n}({k}) lacks its description {doc[:40]!r}')
    assert not missing, missing

def test_no_cell_mixes_imports_with_other_code():
    "nbdev's docs build warns, printing the whole cell, about a cell it must run for the docs that holds imports beside other code (its FAQ): none may"
    import warnings
    from nbdev.process import NBProcessor
    from nbdev.processors import _do_eval   # the rule nbdev's `exec_show_docs` applies, and where it warns
    found = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            for cell in NBProcessor(nb, rm_directives=False).nb.cells: _do_eval(cell)
        found += [f"{nb.name}: {str(o.message).split('---')[1].strip()[:200]}" for o in w if 'imports and other code' in str(o.message)]
    assert not found, found

def test_no_saved_output_holds_a_warning_hidden_cells_too():
    "A saved warning (a hidden cell's too, which Jupyter and GitHub show though the docs page does not) means a notebook was saved from a run that printed one"
    import json
    found = [f"{nb.name} cell {i}: {line[:160]}" for nb in sorted((ROOT/'nbs').glob('*.ipynb'))
             for i,c in enumerate(json.loads(nb.read_text())['cells']) if c['cell_type'] == 'code'
             for o in c.get('outputs', []) for line in ''.join(o.get('text', '')).splitlines() if 'Warning' in line]
    assert not found, found
