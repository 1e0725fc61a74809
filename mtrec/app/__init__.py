"""The app layer: the Hydra entry point, one job's lifecycle, Hydra callbacks, the console commands.

The only layer besides :mod:`mtrec.config` that reads a composed config: it turns config sections
into the plain arguments of the other layers.
"""
