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
} as const;
