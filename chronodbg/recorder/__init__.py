"""The recorder: runs the target, hooks the runtime, samples locals, writes the log.

It depends on nothing from replay or the REPL. `control.start()` /
`control.stop()` are its entry points; `runner` runs a script or module the
way `python` would.
"""
