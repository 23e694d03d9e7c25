"""`status_line`: one console line per long step, with its time, for the `mmfusion` command.

Example:

>>> with status_line(True, "writing the encoder"):
...     export_keras_as_hub_module(encoder, "encoder")
  writing the encoder ... done in 12.3 s
"""

import contextlib
import time


@contextlib.contextmanager
def status_line(verbose, step):
    """Prints `  step ...` before the block and ` done in 1.2 s` after it, when `verbose`."""
    if not verbose:
        yield
        return
    print(f"  {step} ...", end="", flush=True)
    start = time.perf_counter()
    yield
    print(f" done in {time.perf_counter() - start:.1f} s", flush=True)
