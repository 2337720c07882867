"""The pipeline's stages, one module per DVC stage, each with a ``run(...)`` that does the stage's whole
job and returns what it wrote; the stage's notebook resolves its parameters, calls ``run`` and shows the
result, and the command line calls the same functions.

- :mod:`springstudy.stages.ir`: impulse responses, RT60 and Figs 16-19 (notebook ``07_ir_rt60``).
"""
