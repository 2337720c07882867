"""The study report: every table and figure of one run of the pipeline, read like a paper.

:func:`build_report` reads what the stages wrote (Markdown and CSV tables under
``reports/<profile>/tables/``, PNG figures under ``figures/<profile>/``, the metrics JSON files,
``reports/<profile>/environment.json``, the audio the ``evaluate`` and ``ir`` stages wrote
under ``reports/<profile>/audio/``) and ``params.yaml``, and assembles ``study.md`` and
``study.html``: a table of contents, numbered and captioned tables and figures, a section
"What the results mean" written from the numbers (:func:`results_meaning`), audio players for
the test items and the impulse responses, and the thesis's errata (:data:`CORRECTIONS`).
Python-Markdown (with its ``toc`` and ``tables`` extensions) turns the Markdown into HTML;
figures are embedded, audio is linked (the WAV files sit beside the report). Anything a run did
not produce is said in words where it would have been, and listed at the end.
"""


from springstudy.report.blocks import BANDS, Context, results_meaning, rt60_summary, training_rows
from springstudy.report.build import build_report, markdown_to_html, summary_metrics, write_report
from springstudy.report.sections import CORRECTIONS, SECTIONS, Figure, Section, Table

__all__ = ["BANDS", "CORRECTIONS", "Context", "Figure", "SECTIONS", "Section", "Table", "build_report",
           "markdown_to_html", "results_meaning", "rt60_summary", "summary_metrics", "training_rows", "write_report"]
