import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// One port into a sandbox (docs/architecture.md, "The channel into a sandbox"): only the
// channel's two implementations open engine execs. Every `x.exec(...)` call in src/ (tests
// aside) is resolved by the type checker, whatever `x` is named or typed as (ContainerRuntime
// or a backend class); that the two expected callers are found proves the search works.
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const runtimeDir = resolve(root, "src/runtime") + sep;

function execCallers(): Map<string, number> {
  const config = ts.getParsedCommandLineOfConfigFile(
    resolve(root, "tsconfig.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error("tsconfig.json could not be read");
  const files = config.fileNames.filter((f) => relative(root, f).startsWith(`src${sep}`));
  const program = ts.createProgram(files, config.options);
  const checker = program.getTypeChecker();
  const callers = new Map<string, number>();
  for (const sf of program.getSourceFiles()) {
    const file = relative(root, sf.fileName);
    if (!file.startsWith(`src${sep}`) || file.endsWith(".test.ts") || sf.isDeclarationFile) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === "exec") {
        const decl = checker.getResolvedSignature(node)?.getDeclaration();
        // ContainerRuntime.exec, or a backend's implementation of it: declared in src/runtime/.
        const declFile = decl?.getSourceFile().fileName;
        if (declFile !== undefined && resolve(declFile).startsWith(runtimeDir) && decl && (ts.isMethodSignature(decl) || ts.isMethodDeclaration(decl))) {
          callers.set(file, (callers.get(file) ?? 0) + 1);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return callers;
}

describe("engine execs", () => {
  it("are opened only by the sandbox channel's implementations (agent-runner.ts, exec-runner.ts)", () => {
    const callers = [...execCallers().keys()].map((f) => f.split(sep).join("/")).sort();
    expect(callers).toEqual(["src/runtime/agent-runner.ts", "src/runtime/exec-runner.ts"]);
  }, 60_000);
});
