"""Average the model weights of several checkpoints of one run into shipped-style, weights-only weights.

    python scripts/average_weights.py OUT.safetensors RUN/snap-1.safetensors RUN/snap-2.safetensors ...

Stochastic weight averaging over snapshots taken while a run trains (fusioninn.training.checkpoint.
average_weights): the snapshots of a fine-tune with random fused-image perturbations fluctuate from one to
the next, and their mean is steadier (docs/training.md, issue #17). The inputs must share model and
configuration; OUT may not be one of them. Bad input: one line on stderr, exit 2, nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fusioninn.atomic import check_output_folder, guard_outputs
from fusioninn.errors import CheckpointError, UserInputError
from fusioninn.training.checkpoint import average_weights, load_checkpoint, save_checkpoint


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: average_weights.py OUT.safetensors CHECKPOINT CHECKPOINT [...]", file=sys.stderr)
        return 2
    out, inputs = Path(argv[0]), [Path(p) for p in argv[1:]]
    try:
        if out.suffix != ".safetensors":
            raise CheckpointError("the output must be a .safetensors file", out)
        guard_outputs(inputs, [out])  # also an input under another name or through a link
        check_output_folder(out)
        averaged = average_weights([(str(p), load_checkpoint(p)) for p in inputs])
        save_checkpoint(out, averaged)
    except UserInputError as err:
        print(f"average_weights.py: {err}", file=sys.stderr)
        return 2
    steps = ", ".join(str(e["global_step"]) for e in averaged.meta["averaged_from"])
    print(f"wrote {out}: mean of {len(inputs)} checkpoints (steps {steps})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
