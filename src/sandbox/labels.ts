/** Container labels: the daemon's state lives with the containers (DESIGN principle 6). */
export const Label = {
  managed: "org.sandboxd.managed",
  daemon: "org.sandboxd.daemon",
  sandboxId: "org.sandboxd.sandbox-id",
  tenant: "org.sandboxd.tenant",
  createdAt: "org.sandboxd.created-at",
  expiresAt: "org.sandboxd.expires-at",
  config: "org.sandboxd.config",
  pool: "org.sandboxd.pool",
  userPrefix: "org.sandboxd.user.",
  /** On the container that is a daemon id's lease (src/sandbox/daemon-lease.ts). */
  lease: "org.sandboxd.lease",
  leaseHolder: "org.sandboxd.lease-holder",
  /** On images made by commit_on_close: their workdir content lives in the image. */
  committed: "org.sandboxd.committed",
  /** On engine volumes of VolumeService (src/sandbox/volume-manager.ts). */
  volumeId: "org.sandboxd.volume-id",
  volumeName: "org.sandboxd.volume-name",
  volumeSizeLimit: "org.sandboxd.volume-size-limit",
} as const;
