"""The run configs, shipped inside the package (``ml_collections`` config files).

Every program's ``--config`` takes a path or a name: ``--config=quickstart`` (or
``--config=paper:selected``) means ``<this folder>/quickstart.py`` from any directory, also from
an installed wheel; ``configs/`` at the repository root is a link to this folder. Library code
loads them with ``config_loader.load_config("quickstart")``. They are read as files, never
imported as modules of this package.
"""
