"""The replay engine: index a recording, rebuild the state at any point, step and stop.

UI-agnostic by rule (see DESIGN.md): nothing here prints. Session methods
return values or raise a `ChronoError` subclass, so the REPL, batch mode and a
later Debug Adapter Protocol server are all front ends over the same engine.
"""
