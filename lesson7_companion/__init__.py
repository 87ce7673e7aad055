__version__ = "0.0.1"

# fastai's layers still use `torch.jit.script`, which torch now deprecates: a warning at import that no student can act on.
# It is silenced here, in the package's `__init__`, which Python runs before any of its modules, so no import order matters.
import warnings
warnings.filterwarnings('ignore', message='`torch.jit.script` is deprecated', category=FutureWarning)
