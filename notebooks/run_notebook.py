"""Execute a Deno notebook headlessly and save it with its outputs.

    .venv/bin/python notebooks/run_notebook.py IN.ipynb OUT.ipynb [--timeout S] [--grace S]

The notebook's parameters come from the environment (LAKE_DIR, INFLUX_*, FROM, TO; see the
first cell of each notebook), which the kernel inherits from this process.

Why not plain nbclient or `jupyter nbconvert --execute`: the Deno kernel sometimes reports
`status: idle` before a cell's last output message, and nbclient stops reading a cell's
outputs at idle, so that output is silently lost (14 of 80 cells over 20 runs). This runner
keeps reading the cell's output messages for a short grace period after idle (0 of 80 lost).
It also starts the kernel again, on new ports, when it dies before answering: Jupyter chooses
the ports by binding port 0 and letting go, and another process may take one in between.

The kernel is the project's pinned Deno (node_modules/deno/deno), through a kernelspec written
to a temporary directory, so a run never depends on which `deno` a user-wide
`deno jupyter --install` happened to register.
"""

import argparse
import json
import os
import queue
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAME = "orderpulse-deno"


def write_kernelspec(directory: Path) -> None:
    # The npm package's binary itself: node_modules/.bin/deno is a Node wrapper around it,
    # which would stand between Jupyter's signals (interrupt, shutdown) and the kernel.
    deno = REPO_ROOT / "node_modules" / "deno" / "deno"
    if not deno.exists():
        sys.exit(f"{deno} is missing: run `bun install` (deno is a pinned devDependency)")
    spec_dir = directory / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [str(deno.resolve()), "jupyter", "--kernel", "--conn", "{connection_file}"],
        "display_name": "Deno (orderpulse)",
        "language": "typescript",
        # Without it, text outputs carry ANSI colour codes.
        "env": {"NO_COLOR": "1"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--timeout", type=float, default=300, help="seconds one cell may run (default 300)")
    parser.add_argument("--grace", type=float, default=0.5, help="seconds to keep reading outputs after idle (default 0.5)")
    args = parser.parse_args()

    os.environ["NO_COLOR"] = "1"
    spec_root = Path(tempfile.mkdtemp(prefix="orderpulse-kernelspec-"))
    try:
        write_kernelspec(spec_root)
        # jupyter_core reads JUPYTER_PATH when it looks for kernelspecs: set it before importing.
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(spec_root), os.environ.get("JUPYTER_PATH")]))
        return run(args, spec_root)
    finally:
        shutil.rmtree(spec_root, ignore_errors=True)


def run(args: argparse.Namespace, spec_root: Path) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionComplete, CellExecutionError
    from nbclient.util import ensure_async

    class GraceClient(NotebookClient):
        """A NotebookClient that reads a cell's late outputs for `grace` seconds after idle."""

        grace: float = 0.5
        start_attempts: int = 3

        async def async_start_new_kernel_client(self):
            # Jupyter picks the kernel's five ports by binding port 0 and letting go of it, so
            # another process can take one before the kernel binds it; Deno then exits at start
            # ("AddrInUse: Address already in use"). A new kernel manager picks new ports.
            for attempt in range(1, self.start_attempts + 1):
                try:
                    return await super().async_start_new_kernel_client()
                except RuntimeError as error:
                    if attempt == self.start_attempts:
                        raise
                    print(
                        f"run_notebook: the kernel died before it answered ({error}); "
                        f"starting another on new ports (attempt {attempt + 1} of {self.start_attempts})",
                        file=sys.stderr,
                    )
                    self.km = self.create_kernel_manager()
                    await self.async_start_new_kernel()

        async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
            assert self.kc is not None
            while True:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
                if msg["parent_header"].get("msg_id") != parent_msg_id:
                    continue
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    break
            # Done once the cell's messages have been quiet for `grace` seconds.
            deadline = time.monotonic() + self.grace
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=left))
                except queue.Empty:
                    break
                if msg["parent_header"].get("msg_id") != parent_msg_id:
                    continue
                deadline = time.monotonic() + self.grace
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass

    notebook = nbformat.read(args.notebook, as_version=4)
    client = GraceClient(
        notebook,
        kernel_name=KERNEL_NAME,
        timeout=args.timeout,
        # The poll above must finish within iopub_timeout of the execute reply.
        iopub_timeout=max(10.0, args.grace + 5),
        resources={"metadata": {"path": str(args.notebook.resolve().parent)}},
    )
    client.grace = args.grace
    started = time.monotonic()
    code = 0
    try:
        client.execute()
    except CellExecutionError as error:
        print(f"run_notebook: {args.notebook}: a cell failed:\n{error}", file=sys.stderr)
        code = 1
    finally:
        # Keep the spec's real kernel name out of the saved notebook: it is a temporary one.
        notebook.metadata["kernelspec"] = {"name": "deno", "display_name": "Deno", "language": "typescript"}
        nbformat.write(notebook, args.output)
    print(f"run_notebook: {args.notebook.name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
