"""Coverage-guided fuzzing (atheris / libFuzzer) of every parser that takes outside input.

`targets.py` names the harnesses, `run.py` runs one under atheris (one process each: libFuzzer
runs once per process), `python -m tests.fuzz` is the recorded run, `test_fuzz.py` the CI smoke
run. See docs/fuzzing.md.
"""
