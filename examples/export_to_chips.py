"""Export a trained model for chip mapping: an NIR graph and, if it fits, a Xylo Audio 2 specification.

    python examples/export_to_chips.py MODEL.rsnn [--out-dir export/]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import robust_snn
from robust_snn.export.nir import write_nir
from robust_snn.export.xylo import map_to_xylo, write_xylo_spec, xylo_violations


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--out-dir", default="export")
    args = parser.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = robust_snn.load_model(args.model)
    write_nir(out / "model.nir", model)
    print(f"wrote {out / 'model.nir'}")
    violations = xylo_violations(model)
    if violations:
        print("does not fit Xylo Audio 2: " + "; ".join(violations))
    else:
        write_xylo_spec(out / "xylo_spec.json", map_to_xylo(model))
        print(f"wrote {out / 'xylo_spec.json'}")
    return {"nir": out / "model.nir", "xylo_violations": violations}


if __name__ == "__main__":
    from robust_snn.cli_guards import run_as_command

    run_as_command(main)  # a missing path or bad spec: one line on stderr, exit status 2, as the CLI
