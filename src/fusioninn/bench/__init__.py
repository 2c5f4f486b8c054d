"""Benchmarks shipped with the package (``fusioninn bench``): the reference FusionINN (FrEIA's modules
and the original graph and loss) and the side-by-side speed comparison. Nothing in the library imports
this package; tests and ``benchmarks/`` do."""
