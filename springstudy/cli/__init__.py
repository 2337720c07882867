"""The ``springstudy`` command line: one module per subcommand, the parser and the error exit in
:mod:`springstudy.cli.main`.

Each subcommand module (``springstudy.cli.<name>``) has ``add(sub)``, which declares its arguments
and sets ``func`` to the module's handler ``run(args)`` (``run_<name>`` for the nested ``data``
subcommands). A handler turns the arguments into plain values and calls the package; heavy imports
happen inside handlers so that ``springstudy --help`` stays fast. Every error the package raises on
bad input derives from :class:`springstudy.errors.SpringStudyError`, which ``main`` reports as one
line and exit status 2. No module outside this package imports it, and this file imports nothing,
so a stage that runs one subcommand depends on that subcommand's code only (tests/test_dvc_deps.py).
"""
