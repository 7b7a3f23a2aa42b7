/**
 * notebooks/run_notebook.py against the real Deno Jupyter kernel, where a notebook run meets
 * something the full notebooks test only meets by chance: a kernel port taken by another process
 * between Jupyter choosing it and the kernel binding it. Here the first kernel manager is given a
 * shell port this process holds, so the first kernel dies at start with AddrInUse every time.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./support/pipeline-harness.ts";

const python = join(repoRoot, ".venv", "bin", "python");

/** Runs run_notebook.py's main() with the first `busyKernels` kernel managers given `port` as their shell port. */
const RUNNER = `
import sys
sys.path.insert(0, sys.argv[1])
import run_notebook
from nbclient import NotebookClient

port, busy_kernels = int(sys.argv[2]), int(sys.argv[3])
original = NotebookClient.create_kernel_manager
created = 0

def create_kernel_manager(self):
    global created
    created += 1
    km = original(self)
    if created <= busy_kernels:
        km.cache_ports = False  # else the provisioner picks every port itself
        km.shell_port = port
    return km

NotebookClient.create_kernel_manager = create_kernel_manager
sys.argv = ["run_notebook.py", *sys.argv[4:]]
code = run_notebook.main()
print(f"kernel managers created: {created}", file=sys.stderr)
sys.exit(code)
`;

async function runWithBusyPort(busyKernels: number) {
  if (!existsSync(python)) throw new Error(`${python} is missing: run \`bash scripts/setup.sh\` (it installs notebooks/requirements.txt into .venv)`);
  const dir = mkdtempSync(join(tmpdir(), "orderpulse-run-notebook-"));
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  try {
    const port = (server.address() as { port: number }).port;
    const input = join(dir, "in.ipynb");
    const output = join(dir, "out.ipynb");
    const notebook = {
      cells: [{ id: "answer", cell_type: "code", metadata: {}, execution_count: null, outputs: [], source: ["console.log(`answer: ${6 * 7}`);"] }],
      metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
      nbformat: 4,
      nbformat_minor: 5,
    };
    writeFileSync(input, JSON.stringify(notebook));
    const child = Bun.spawn([python, "-c", RUNNER, join(repoRoot, "notebooks"), String(port), String(busyKernels), input, output, "--timeout", "60"], {
      cwd: repoRoot,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    const outputs = existsSync(output) ? JSON.stringify(JSON.parse(readFileSync(output, "utf8")).cells[0].outputs) : "";
    return { code, stderr, outputs };
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test("a kernel that dies at start because its port was taken is started again on new ports, and the notebook runs", async () => {
  const { code, stderr, outputs } = await runWithBusyPort(1);
  expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
  expect(stderr).toContain("AddrInUse");
  expect(stderr).toContain("starting another on new ports (attempt 2 of 3)");
  expect(stderr).toContain("kernel managers created: 2");
  expect(outputs).toContain("answer: 42");
}, 60_000);

test("after three kernels died at start, the run fails and says why", async () => {
  const { code, stderr } = await runWithBusyPort(3);
  expect(code).not.toBe(0);
  expect(stderr).toContain("attempt 3 of 3");
  expect(stderr).toContain("Kernel died before replying to kernel_info");
  expect(stderr).not.toContain("kernel managers created");
}, 60_000);
