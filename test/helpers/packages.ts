/**
 * Python code that builds a tiny wheel inside the sandbox (no network, no build tools):
 * a wheel is a zip with the module and its dist-info. Used to test installs offline.
 */
export function makeWheelCode(name: string, version: string, dir: string, body = "def hello():\n    return 'hello from the wheel'\n"): string {
  const dist = `${name}-${version}.dist-info`;
  const whl = `${dir}/${name}-${version}-py3-none-any.whl`;
  return [
    "import os, zipfile",
    `os.makedirs(${JSON.stringify(dir)}, exist_ok=True)`,
    `with zipfile.ZipFile(${JSON.stringify(whl)}, 'w') as z:`,
    `    z.writestr(${JSON.stringify(`${name}/__init__.py`)}, ${JSON.stringify(body)})`,
    `    z.writestr(${JSON.stringify(`${dist}/METADATA`)}, ${JSON.stringify(`Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`)})`,
    `    z.writestr(${JSON.stringify(`${dist}/WHEEL`)}, 'Wheel-Version: 1.0\\nGenerator: sandboxd-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')`,
    `    z.writestr(${JSON.stringify(`${dist}/RECORD`)}, '')`,
    `print(${JSON.stringify(whl)})`,
  ].join("\n");
}
