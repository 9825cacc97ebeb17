"""Generate documentation from the config declarations.

    python -m sim.docgen                      print the parameter table (Markdown)
    python -m sim.docgen --yaml               print the full config as commented YAML
    python -m sim.docgen --baseline FILE      regenerate FILE (keeps its leading comment block)
    python -m sim.docgen --docs FILE          refresh the parameter table between FILE's markers

``make docs`` runs the last two on scenarios/baseline.yaml and docs/model.md.
"""

import sys
from pathlib import Path

from .config import commented_yaml, document_parameters, parameter_table_markdown


def main(argv: list[str]) -> None:
    if argv == ["--yaml"]:
        print(commented_yaml())
    elif len(argv) == 2 and argv[0] == "--baseline":
        target = Path(argv[1])
        lines = target.read_text(encoding="utf-8").splitlines()
        head = []
        for line in lines:  # keep the file's leading comment block
            if not line.startswith("#"):
                break
            head.append(line)
        target.write_text("\n".join(head + [commented_yaml()]) + "\n", encoding="utf-8")
    elif len(argv) == 2 and argv[0] == "--docs":
        doc = Path(argv[1])
        doc.write_text(document_parameters(doc.read_text(encoding="utf-8")), encoding="utf-8")
    elif not argv:
        print(parameter_table_markdown())
    else:
        sys.exit(f"usage: {__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
