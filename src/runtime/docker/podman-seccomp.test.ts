import { describe, expect, it } from "vitest";
import { hardenSeccompProfile } from "./podman-seccomp.js";

describe("hardenSeccompProfile", () => {
  const base = {
    defaultAction: "SCMP_ACT_ERRNO",
    syscalls: [
      { names: ["read", "unshare", "clone", "clone3", "mount", "write"], action: "SCMP_ACT_ALLOW", args: [] },
      { names: ["setns"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
    ],
  };

  it("takes namespace and mount syscalls out of unconditional allows and refuses them", () => {
    const p = hardenSeccompProfile(base);
    const allowAll = p.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && !r.args?.length);
    for (const n of ["unshare", "clone", "clone3", "mount", "setns"]) expect(allowAll.flatMap((r) => r.names)).not.toContain(n);
    expect(allowAll.flatMap((r) => r.names)).toEqual(expect.arrayContaining(["read", "write"]));
    expect(p.syscalls).toContainEqual({
      names: ["clone"],
      action: "SCMP_ACT_ALLOW",
      args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    });
    expect(p.syscalls).toContainEqual({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 });
    const eperm = p.syscalls.find((r) => r.errnoRet === 1);
    expect(eperm?.names).toEqual(expect.arrayContaining(["unshare", "mount", "umount2", "pivot_root", "setns"]));
    expect(base.syscalls[0]?.names).toContain("unshare");
  });
});
