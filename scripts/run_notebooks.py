#!/usr/bin/env python3
"""Execute evcxr (Rust) notebooks headlessly with nbclient and check them.

Each notebook runs in a fresh kernel, its outputs cleared first, with the notebook's own
folder as the working directory (so `:dep score_sde = { path = ".." }` resolves). A notebook
fails on: a compile error or any error output, any output on stderr (evcxr prints a `?`
error there and still completes the cell), a dead kernel (a panic, with
`:preserve_vars_on_panic 0`), a figure that failed to render ("plot error:") or came out as
its Debug text (`Chart { ... }`), a figure sent as
SVG inside text/html (JupyterLab strips it in a notebook it did not execute itself), or no
image/png figure at all. Without --write the executed notebooks go to a temporary folder
and the repository is left untouched; with --write they replace the originals.
"""
import argparse
import pathlib
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


# A chart type's Debug output where a drawing was meant: evcxr fell back to `{:?}`.
FIGURE_DEBUG = re.compile(r"^\s*(Chart|Figure|Heatmap|ImageGrid|Grid)\s*[{(]")


def cell_label(index, cell):
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"cell {index} (`{first[:70]}`)"


def outputs_text(output):
    """All the text an output carries: stream text or the text/* parts of display data."""
    if output.output_type == "stream":
        return output.get("text", "")
    if output.output_type in ("display_data", "execute_result"):
        return "\n".join(str(v) for k, v in output.get("data", {}).items() if k.startswith("text/"))
    if output.output_type == "error":
        return "\n".join(output.get("traceback", [])) or output.get("evalue", "")
    return ""


def check(nb):
    """Problems of an executed notebook and its number of figures (image/png outputs)."""
    problems, figures = [], 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = outputs_text(out)
            if out.output_type == "error":
                problems.append(f"{cell_label(i, cell)}: error output:\n{text}")
            elif out.output_type == "stream" and out.get("name") == "stderr":
                problems.append(f"{cell_label(i, cell)}: wrote to stderr:\n{text}")
            elif "plot error:" in text:
                problems.append(f"{cell_label(i, cell)}: a figure failed to render:\n{text}")
            elif FIGURE_DEBUG.match(text):
                problems.append(
                    f"{cell_label(i, cell)}: a figure printed as its Debug text, not drawn "
                    "(end the cell with a variable holding it)"
                )
            if out.output_type in ("display_data", "execute_result"):
                data = out.get("data", {})
                if "image/png" in data:
                    figures += 1
                if "<svg" in str(data.get("text/html", "")):
                    problems.append(
                        f"{cell_label(i, cell)}: a figure as SVG in text/html, which JupyterLab "
                        "strips in an untrusted notebook (send image/png)"
                    )
    if figures == 0:
        problems.append("no image/png figure in any output")
    return problems, figures


def run(path, kernel, timeout, write, out_dir):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=timeout,
        allow_errors=False,  # stop at the first failing cell; `check` names it
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.monotonic()
    problems = []
    try:
        client.execute()
    except DeadKernelError as e:
        problems.append(f"the kernel died (a panic aborts it): {e}")
    except CellTimeoutError as e:
        problems.append(f"a cell timed out after {timeout} s: {e}")
    except CellExecutionError as e:
        problems.append(f"cell execution error: {e}")
    seconds = time.monotonic() - start
    found, figures = check(nb)
    problems = found + [p for p in problems if not p.startswith("cell execution error")] if found else problems
    target = path if write else out_dir / path.name
    nbformat.write(nb, target)
    return problems, figures, seconds, target


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=pathlib.Path, help="default: notebooks/*.ipynb")
    ap.add_argument("--write", action="store_true", help="write the executed notebooks back in place")
    ap.add_argument("--kernel", default="rust", help="kernel name (evcxr_jupyter --install: rust)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per cell (the first cell builds the dependencies)")
    args = ap.parse_args()
    paths = args.notebooks or sorted(pathlib.Path("notebooks").glob("*.ipynb"))
    if not paths:
        print("run-notebooks: no notebooks found", file=sys.stderr)
        return 1
    out_dir = pathlib.Path(tempfile.mkdtemp(prefix="notebooks-"))
    failed = 0
    for path in paths:
        print(f"run-notebooks: {path} ...", flush=True)
        problems, figures, seconds, target = run(path, args.kernel, args.timeout, args.write, out_dir)
        if problems:
            failed += 1
            print(f"run-notebooks: FAILED {path} ({seconds:.0f} s, executed copy: {target})")
            for p in problems:
                print("  - " + p.replace("\n", "\n    "))
        else:
            print(f"run-notebooks: ok {path}: {figures} figures, {seconds:.0f} s -> {target}", flush=True)
    print(f"run-notebooks: {len(paths) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
