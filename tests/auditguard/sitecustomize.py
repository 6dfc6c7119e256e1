"""Put this folder first on PYTHONPATH to log every file a subprocess opens (Python audit hooks).

One line per open: "<r|w>\t<absolute path>" in the file named by CLMER_AUDIT_LOG.
"""

import os
import sys

_log = os.environ.get("CLMER_AUDIT_LOG")
if _log:
    _fd = os.open(_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def _hook(event, args):
        if event != "open" or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
            return
        path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(flags & _WRITE_FLAGS)
        try:
            full = os.path.abspath(os.fsdecode(path))
        except Exception:
            return
        os.write(_fd, f"{'w' if writing else 'r'}\t{full}\n".encode("utf-8", "replace"))

    sys.addaudithook(_hook)
