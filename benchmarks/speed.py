"""Speed of FusionINN against the published FrEIA graph, side by side (``fusioninn bench`` runs the same).

    .venv/bin/python benchmarks/speed.py --batch-sizes 1,8,64 --repeats 5 --threads 1 \
        --json benchmarks/results/speed.json

The program lives in the package, ``fusioninn.bench.speed``, so that it also runs from an installed copy;
see its docstring and docs/performance.md.
"""

from fusioninn.bench.speed import main

if __name__ == "__main__":
    raise SystemExit(main())
