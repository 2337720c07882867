"""springstudy: a reproducible study of neural spring-reverb modelling.

The package is thin and flat: ``data`` (synthetic tank, datasets), ``acoustics``
(decay curves, RT60), ``environment`` (what machine ran the study), ``config``
(params.yaml) and the ``springstudy`` command line (``cli``). Notebooks under
``notebooks/`` call the package; the package never imports a notebook.
"""

__version__ = "0.1.0"
