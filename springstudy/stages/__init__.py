"""The pipeline's stages, one module per DVC stage of ``dvc.yaml``, named as the stage is.

Each module's ``run(...)`` does the stage's whole job (computes, writes its tables, figures and
metrics) and returns what it measured and wrote; the stage's notebook resolves its parameters,
calls ``run`` and shows the result, and its readings and verdicts are the module's functions,
tested like the rest of the package. The ``data`` stage is the command line's
``springstudy data prepare`` (:mod:`springstudy.data.prepare`).

==============  ===========================  ======================================================
stage           notebook                     what ``run`` does
==============  ===========================  ======================================================
environment     00_environment               the machine and package record
overview        01_dataset_overview          Tables 3-4, Figs 8-11, the split files
features        02_features                  the Essentia descriptors, Figs 12-13, the bass share
train           03_train                     one named run of ``train.runs``, its metrics and curves
baselines       04_baselines                 Table 8: TCN-baseline, Naive, Noise, Silence, Linear IR
evaluate        05_evaluate                  Tables 9-10 with bounds, learning curves, Fig 15
efficiency      06_efficiency                Table 11: FLOPs, RTF against the FLOP bound, memory
ir              07_ir_rt60                   impulse responses, RT60, Figs 16-19
calibration     08_calibration               the default tank against the real 4EB2C1B
search          09_search                    Table 5's search with successive halving
report          10_report                    the study report (Markdown and HTML)
==============  ===========================  ======================================================

:mod:`springstudy.stages.common` holds what the notebooks share (project paths, scratch
folders, smoke datasets).
"""
