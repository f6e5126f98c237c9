"""Run a script under VizTracer's inline API and write the trace with its C writer, for bench_record.py.

    python viztracer_raw.py OUT.json ENTRIES script.py [args...]

`python -m viztracer script.py` (the "VizTracer" variant) has its C tracer
write a raw JSON file at exit, then loads that file into Python objects and
writes it out again as the report (with the source of the traced files): on
call-heavy programs that second pass is most of the time it adds. Here the
same tracer, with the same defaults, writes the raw file straight to OUT.json
(`VizTracer(dump_raw=True).save()`): what VizTracer's tracing and its
fastest writer cost, without the report building. The script runs as
`__main__` with its own argv and its directory first on sys.path, as under
`python script.py`.
"""

from __future__ import annotations

import os
import runpy
import sys

from viztracer import VizTracer


def main() -> None:
    out, entries, script, *args = sys.argv[1:]
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    tracer = VizTracer(tracer_entries=int(entries), output_file=out, verbose=0, dump_raw=True)
    tracer.start()
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        tracer.stop()
        tracer.save()


if __name__ == "__main__":
    main()
