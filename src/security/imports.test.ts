import { describe, expect, it } from "vitest";
import { checkCode } from "./check-code.js";
import type { SecurityPolicy } from "./policy.js";

function restricting(...names: string[]): SecurityPolicy {
  return {
    severityThreshold: "LOW",
    patterns: [],
    restrictedModules: names.map((name) => ({ name, description: `${name} is restricted`, severity: "HIGH" as const })),
  };
}

/** The restricted modules found in `code`, as `module@line:column`. */
function found(language: string, code: string, ...restricted: string[]): string[] {
  return checkCode(language, code, restricting(...restricted)).violations.map((v) => `${v.rule.replace(/^import:/, "")}@${v.line}:${v.column}`);
}

describe("import detection", () => {
  describe("python", () => {
    it.each([
      ["import os", "os@1:8"],
      ["import os.path", "os@1:8"],
      ["import os as o", "os@1:8"],
      ["import json, os", "os@1:14"],
      ["import json, \\\n    os", "os@2:5"],
      ["from os import path", "os@1:6"],
      ["from os.path import join", "os@1:6"],
      ["from os import (\n    path,\n    sep,\n)", "os@1:6"],
      ["if x: import os", "os@1:14"],
      ["__import__('os')", "os@1:12"],
      ["__import__('o' 's')", "os@1:12"],
      ["__import__('o\\x73')", "os@1:12"],
      ["importlib.import_module('os.path')", "os@1:25"],
      ["m = f\"{__import__('os')}\"", "os@1:19"],
    ])("finds os in %j", (code, expected) => {
      expect(found("python", code, "os")).toEqual([expected]);
    });

    it.each([
      "import osmosis",
      "import json  # import os",
      "'''docstring with\nimport os'''",
      's = "import os"',
      "from . import os",
      "from .os import path",
      "x.import_module(name)",
      "__import__(name)",
      "raise ValueError from os_error",
    ])("does not find os in %j", (code) => {
      expect(found("python", code, "os")).toEqual([]);
    });

    // Python reads names NFKC-normalised, and loaders in any form it accepts.
    it.each([
      ["import ℴs", "os@1:8"],
      ["import 𝐨𝐬", "os@1:8"],
      ["import oſ", "os@1:8"],
      ["from ｏｓ import system", "os@1:6"],
      ["__ｉmport__('os')", "os@1:12"],
      ["importlib.ｉmport_module('os')", "os@1:25"],
      ["(__import__)('os')", "os@1:14"],
      ["__import__(('os'))", "os@1:13"],
      ["__import__('o' + ('s'))", "os@1:12"],
      ["__import__(('o') + 's')", "os@1:13"],
      ["__import__(f\"{'o'}s\")", "os@1:12"],
      ["__import__(f'o{\"s\"}')", "os@1:12"],
      ["__import__(name='os')", "os@1:17"],
      ["__import__(fromlist=['path'], name='os')", "os@1:36"],
      ["importlib.import_module(name='os')", "os@1:30"],
      ["from importlib import import_module as im\nim('os')", "os@2:4"],
      ["im = importlib.import_module\nim('os')", "os@2:4"],
      ["imp = (__import__)\nload = imp\nload('os')", "os@3:6"],
      ["(im := __import__)('os')", "os@1:20"],
      ["def f(load=importlib.import_module):\n    return load('os')", "os@2:17"],
      ["importlib.import_module('.path', 'os')", "os@1:34"],
      ["importlib.import_module('.path', package='os')", "os@1:42"],
      ["__import__('\\N{LATIN SMALL LETTER O}s')", "os@1:12"],
      ["__import__('\\N{latin small letter o}\\N{LATIN SMALL LETTER S}')", "os@1:12"],
      ["x = f'\\{__import__(\"os\")}'", "os@1:20"],
      ["x = rf'\\N{__import__(\"os\")}'", "os@1:22"],
      ["s = '\u2028'; import os", "os@1:17"],
      ["s = '\u2029\u0085\f'; import os", "os@1:19"],
      ["s = '''\u2028'''; import os", "os@1:21"],
    ])("finds os in %j (Python's reading)", (code, expected) => {
      expect(found("python", code, "os")).toEqual([expected]);
    });

    it.each([
      "x = f'{{__import__(\"os\")}}'",
      "x = f'\\N{LATIN SMALL LETTER O}{{import os}}'",
      "# a comment\u2028import os",
      "s = 'text\u2028import os'",
      "s = '\\N{LATIN SMALL LETTER O}s'",
      "__import__('.os')",
      "__import__(f\"{'o'!r}s\")",
      "__import__(f\"{'o':>1}s\")",
    ])("does not find os in %j (Python's reading)", (code) => {
      expect(found("python", code, "os")).toEqual([]);
    });

    it("counts a loader's name that cannot be decoded as every restricted module", () => {
      expect(found("python", "__import__('\\N{NO SUCH NAME}s')", "os", "subprocess")).toEqual(["os@1:12", "subprocess@1:12"]);
    });

    it("finds a restricted submodule, not its parent", () => {
      expect(found("python", "from os import path", "os.path")).toEqual(["os.path@1:16"]);
      expect(found("python", "import os.path", "os.path")).toEqual(["os.path@1:8"]);
      expect(found("python", "import os", "os.path")).toEqual([]);
    });

    it("reports one finding per statement and module", () => {
      expect(found("python", "from os import path, sep, environ", "os")).toEqual(["os@1:6"]);
      expect(found("python", "import os, os.path\nimport os", "os")).toEqual(["os@1:8", "os@2:8"]);
    });
  });

  describe("javascript / typescript", () => {
    it.each([
      ["const fs = require('fs')", "fs@1:20"],
      ['const fs = require("node:fs")', "fs@1:20"],
      ["require('fs/promises')", "fs@1:9"],
      ["require('f' + 's')", "fs@1:9"],
      ["require('f\\x73')", "fs@1:9"],
      ["import fs from 'fs'", "fs@1:16"],
      ["import * as fs from 'fs'", "fs@1:21"],
      ["import { readFile, writeFile as w } from 'fs';", "fs@1:42"],
      ["import def, { a } from\n  'fs'", "fs@2:3"],
      ["import 'fs'", "fs@1:8"],
      ["const m = await import('fs')", "fs@1:24"],
      ["export { readFile } from 'fs'", "fs@1:26"],
      ["export * from 'fs'", "fs@1:15"],
      ["const x = `${require('fs')}`", "fs@1:22"],
      ["import type { Stats } from 'fs'", "fs@1:28"],
      ["import fs = require('fs')", "fs@1:21"],
    ])("finds fs in %j", (code, expected) => {
      expect(found("typescript", code, "fs")).toEqual([expected]);
    });

    it.each([
      "require('fs-extra')",
      "const s = 'require(\"fs\")'",
      "const t = `require('fs')`",
      "// require('fs')",
      "/* import fs from 'fs' */",
      "require(name)",
      "require.resolve('fs')",
      "const meta = import.meta.url",
      "const re = /require('fs')/",
    ])("does not find fs in %j", (code) => {
      expect(found("javascript", code, "fs")).toEqual([]);
    });

    it("matches restricted node: names and scoped packages", () => {
      expect(found("javascript", "require('child_process')", "node:child_process")).toEqual(["node:child_process@1:9"]);
      expect(found("javascript", "import x from '@corp/secret/sub'", "@corp/secret")).toEqual(["@corp/secret@1:15"]);
    });
  });

  describe("java", () => {
    it.each([
      ["import java.net.Socket;", "java.net@1:8"],
      ["import java.net.*;", "java.net@1:8"],
      ["import static java.net.InetAddress.getByName;", "java.net@1:15"],
      ["var s = new java.net.Socket(host, 80);", "java.net@1:13"],
    ])("finds java.net in %j", (code, expected) => {
      expect(found("java", code, "java.net")).toEqual([expected]);
    });

    it.each([
      "import java.nio.file.Files;",
      "import java.networking.Foo;",
      'String s = "java.net.Socket";',
      "// import java.net.Socket;",
      "package java.net.mine;",
    ])("does not find java.net in %j", (code) => {
      expect(found("java", code, "java.net")).toEqual([]);
    });
  });

  describe("go", () => {
    it("finds single and grouped imports, with aliases and dot/blank imports", () => {
      const code = 'package main\n\nimport "os"\nimport (\n\t"fmt"\n\tx "os/exec"\n\t. "net"\n\t_ "net/http"\n)\n';
      expect(found("go", code, "os", "net")).toEqual(["os@3:8", "os@6:4", "net@7:4", "net@8:4"]);
    });

    it("matches a restricted name as the last path element, as llm-sandbox does", () => {
      expect(found("go", 'import "golang.org/x/net"', "net")).toEqual(["net@1:8"]);
    });

    it.each(['import "osext"', 'var s = "os"', '// import "os"', "import `fmt`"])("does not find os in %j", (code) => {
      expect(found("go", code, "os")).toEqual([]);
    });
  });

  describe("cpp", () => {
    it.each([
      ["#include <cstdlib>", "cstdlib", "cstdlib@1:10"],
      ['#include "cstdlib"', "cstdlib", "cstdlib@1:10"],
      ["  #  include <sys/socket.h>", "sys/socket.h", "sys/socket.h@1:14"],
      ["#include <sys/socket.h>", "sys", "sys@1:10"],
      ["#include_next <cstdlib>", "cstdlib", "cstdlib@1:15"],
    ])("finds %j by header name", (code, restricted, expected) => {
      expect(found("cpp", code, restricted)).toEqual([expected]);
    });

    it.each([
      "#include <cstdlib.h>",
      "// #include <cstdlib>",
      "/* #include <cstdlib> */",
      'const char* s = "#include <cstdlib>";',
      'auto r = R"(\n#include <cstdlib>\n)";',
      "#define X <cstdlib>",
    ])("does not find cstdlib in %j", (code) => {
      expect(found("cpp", code, "cstdlib")).toEqual([]);
    });
  });

  describe("ruby", () => {
    it.each([
      ["require 'socket'", "socket@1:9"],
      ['require("socket")', "socket@1:9"],
      ["require_relative 'socket'", "socket@1:18"],
      ["require 'socket.so'", "socket@1:9"],
      ["Kernel.require 'socket'", "socket@1:16"],
      ["x = \"#{require 'socket'}\"", "socket@1:16"],
    ])("finds socket in %j", (code, expected) => {
      expect(found("ruby", code, "socket")).toEqual([expected]);
    });

    it("finds submodules by path", () => {
      expect(found("ruby", "require 'net/http'", "net")).toEqual(["net@1:9"]);
      expect(found("ruby", "require 'network'", "net")).toEqual([]);
    });

    it.each(["# require 'socket'", "puts 'require socket'", "=begin\nrequire 'socket'\n=end", "require name"])("does not find socket in %j", (code) => {
      expect(found("ruby", code, "socket")).toEqual([]);
    });
  });

  describe("r", () => {
    it.each([
      ["library(httr)", "httr@1:9"],
      ['library("httr")', "httr@1:9"],
      ["require(httr)", "httr@1:9"],
      ['requireNamespace("httr", quietly = TRUE)', "httr@1:18"],
      ['library(package = "httr")', "httr@1:19"],
      ["httr::GET(url)", "httr@1:1"],
      ["httr:::internal()", "httr@1:1"],
      ["library(`httr`)", "httr@1:9"],
    ])("finds httr in %j", (code, expected) => {
      expect(found("r", code, "httr")).toEqual([expected]);
    });

    it.each(["library(httr2)", "# library(httr)", 'x <- "library(httr)"', "library(pkg, character.only = TRUE)"])("does not find httr in %j", (code) => {
      expect(found("r", code, "httr", "pkg")).toEqual([]);
    });

    it("treats dotted package names as whole names", () => {
      expect(found("r", "library(data.table)\ndata.table::fread(f)", "data.table")).toEqual(["data.table@1:9", "data.table@2:1"]);
    });
  });

  it("has no imports to find in bash", () => {
    expect(found("bash", "source ./os.sh\n. os", "os")).toEqual([]);
  });
});
