"""A stand-in for Kaggle's API, for testing the real `kaggle` client end to end.

kaggle 2.2's `KaggleApi` sends every call to https://api.kaggle.com unless KAGGLE_API_ENVIRONMENT=LOCALHOST, which sends it to
http://localhost (port 80). (KAGGLE_API_ENVIRONMENT=TEST, localhost:7777, is read only by kagglesdk's own client: `KaggleApi`
passes its environment explicitly, so TEST still reaches api.kaggle.com.) The stand-in answers the competition-download call
the way Kaggle does: a redirect to the zip, which the client streams, resuming with a Range request if the transfer breaks.
A newer API token (KAGGLE_API_TOKEN, ~/.kaggle/access_token) is first checked by the client's IntrospectToken call, answered here too."""
import threading, json, base64, socket, fcntl, tempfile
from contextlib import contextmanager
from pathlib import Path
from fastcore.basics import store_attr
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

def _take(port):
    "The lock on `port` that every stand-in (and `nothing_on`) holds while it runs: one at a time on this machine, whichever worker"
    f = open(Path(tempfile.gettempdir())/f'lesson7-kaggle-standin-{port}.lock', 'w'); fcntl.flock(f, fcntl.LOCK_EX); return f

@contextmanager
def nothing_on(port=80):
    "Hold `port` free of stand-ins: for a call that must find nothing answering there while another worker's tests run stand-ins"
    with _take(port): yield

class KaggleStandIn(ThreadingHTTPServer):
    "Answers the competition-download call with `zip_bytes`, or with an HTTP error; `mode` picks how the file is sent"
    daemon_threads = True
    def __init__(self, zip_bytes=b'', # the competition's zip
                 key='sekret', # the only API key it accepts (401 for any other)
                 status=None, # an HTTP error to answer the download with, once the key is accepted (403: rules not accepted)
                 mode='whole', # 'whole', or 'cut': the first transfer of the zip breaks halfway
                 port=80):
        # one stand-in at a time on this machine, whichever pytest-xdist worker starts it: they all need port 80
        self.lock = _take(port)
        try: super().__init__(('127.0.0.1', port), _Handler)
        except BaseException: self.lock.close(); raise
        store_attr('key,status,mode'); self.zip,self.log = zip_bytes,[]
    def __enter__(self): threading.Thread(target=self.serve_forever, daemon=True).start(); return self
    def __exit__(self, *a): self.shutdown(); self.server_close()
    def server_close(self): super().server_close(); self.lock.close()   # closing the file releases the lock

class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _json(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header('Content-Type', 'application/json'); self.send_header('Content-Length', str(len(b))); self.end_headers()
        self.wfile.write(b)
    def do_POST(self):
        s = self.server; n = int(self.headers.get('Content-Length') or 0); body = self.rfile.read(n)
        s.log.append(('POST', self.path, self.headers.get('Authorization'), body))
        if self.path.endswith('/security.OAuthService/IntrospectToken'):   # how the client checks a token (KAGGLE_API_TOKEN, ~/.kaggle/access_token)
            ok = json.loads(body or b'{}').get('token') == s.key
            return self._json(200, dict(active=True, username='student') if ok else dict(active=False))
        auth = self.headers.get('Authorization') or ''
        ok = auth == 'Bearer ' + s.key or (auth.startswith('Basic ') and base64.b64decode(auth[6:]).decode().split(':', 1)[-1] == s.key)
        if not ok: return self._json(401, dict(code=401, message='Unauthenticated'))
        if s.status: return self._json(s.status, dict(code=s.status, message='You must accept this competition\'s rules before you can continue'))
        comp = json.loads(body or b'{}').get('competitionName', '')
        self.send_response(302); self.send_header('Location', f'/files/{comp}.zip'); self.send_header('Content-Length', '0'); self.end_headers()
    def do_GET(self):
        s = self.server; s.log.append(('GET', self.path, self.headers.get('Range'), b''))
        data,rng = s.zip,self.headers.get('Range')
        start = int(rng.split('=')[1].split('-')[0]) if rng else 0
        self.send_response(206 if rng else 200)
        self.send_header('Content-Type', 'application/zip'); self.send_header('Accept-Ranges', 'bytes'); self.send_header('ETag', '"v1"')
        self.send_header('Content-Length', str(len(data)-start))
        if rng: self.send_header('Content-Range', f'bytes {start}-{len(data)-1}/{len(data)}')
        self.end_headers()
        if s.mode == 'cut' and not rng:   # the connection drops halfway through the first transfer
            self.wfile.write(data[:len(data)//2]); self.wfile.flush(); self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR); return
        self.wfile.write(data[start:])
