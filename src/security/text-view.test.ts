import { describe, expect, it } from "vitest";
import { findEncodingDeclaration } from "./python-encoding.js";
import { latin1View, nfkcView } from "./text-view.js";

describe("nfkcView", () => {
  it("is null when normalising changes nothing", () => {
    expect(nfkcView("import os")).toBeNull();
    expect(nfkcView("s = 'é'")).toBeNull(); // already NFC-composed, NFKC leaves it
  });

  it("normalises and maps every offset back to where its character began", () => {
    const text = "a = ｏｓ.system(𝐱)";
    const view = nfkcView(text);
    expect(view?.text).toBe("a = os.system(x)");
    const system = view?.text.indexOf("system") ?? -1;
    expect(view?.original(system)).toBe(text.indexOf("system"));
    expect(view?.original(view.text.indexOf("os"))).toBe(text.indexOf("ｏ"));
    expect(view?.original(view.text.indexOf("x"))).toBe(text.indexOf("𝐱"));
  });

  it("keeps a combining mark with the letter before it", () => {
    const view = nfkcView("xe\u0301 = ﬁ");
    expect(view?.text).toBe("xé = fi");
    expect(view?.original(1)).toBe(1);
    expect(view?.original(view.text.indexOf("fi"))).toBe(6);
  });
});

describe("latin1View", () => {
  it("reads the UTF-8 bytes as Latin-1, mapping back to the original characters", () => {
    const text = "s = 'é'; import os";
    const view = latin1View(text);
    expect(view?.text).toBe("s = 'Ã©'; import os");
    expect(view?.original(view.text.indexOf("import"))).toBe(text.indexOf("import"));
    expect(latin1View("ascii only")).toBeNull();
  });
});

describe("findEncodingDeclaration", () => {
  it.each([
    ["# -*- coding: utf-8 -*-", "utf-8"],
    ["# coding=UTF8", "utf-8"],
    ["# coding: utf_8_sig", "utf-8"],
    ["# vim: set fileencoding=latin-1 :", "latin-1"],
    ["# coding: iso-8859-1-unix", "latin-1"],
    ["# coding: L1", "latin-1"],
    ["# coding: us-ascii", "utf-8"],
    ["# coding: unicode_escape", "unreadable"],
    ["# coding: utf-16-le", "unreadable"],
    ["\f # coding: utf-7", "unreadable"],
  ])("classifies %j as %s", (line, encoding) => {
    expect(findEncodingDeclaration(`${line}\nx = 1`)?.encoding).toBe(encoding);
    expect(findEncodingDeclaration(`#!/usr/bin/env python3\n${line}\nx = 1`)?.encoding).toBe(encoding);
  });

  it("looks only at the first two lines, and takes the first declaration", () => {
    expect(findEncodingDeclaration("x = 1\ny = 2\n# coding: utf-7")).toBeNull();
    expect(findEncodingDeclaration("x = 1  # coding: utf-7")).toBeNull();
    expect(findEncodingDeclaration("# coding: utf-8\n# coding: utf-7")?.encoding).toBe("utf-8");
  });

  it("splits lines at a lone \\r too, refusing when the readings disagree", () => {
    expect(findEncodingDeclaration("# a\r# coding: utf-7\nx = 1")?.encoding).toBe("unreadable");
  });

  it("gives the offset of the name", () => {
    expect(findEncodingDeclaration("x\n# coding: utf-7")).toMatchObject({ name: "utf-7", offset: 12 });
  });
});
