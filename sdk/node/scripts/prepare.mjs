// npm runs this "prepare" script when the package is installed from a checkout (npm install ./sdk/node,
// or a Git URL) and before it is packed: it builds dist/ with the TypeScript compiler, first installing
// the build tools (the devDependencies, from package-lock.json) when they are not there, since npm does not
// install a linked folder's devDependencies.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ["npm"];

function run(argv) {
  const res = spawnSync(argv[0], argv.slice(1), { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
  if (res.error) throw res.error;
  if (res.status !== 0) process.exit(res.status ?? 1);
}

if (!existsSync(join(root, "node_modules", "typescript", "package.json"))) {
  run([...npm, "ci", "--include=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]);
}
run([...npm, "run", "--silent", "build"]);
