/**
 * A policy, preset name, language or library list that cannot be used as given.
 *
 * Thrown up front (when a policy is compiled, a preset looked up, a language resolved) so
 * a bad policy is refused when it is submitted rather than failing open later. The daemon
 * maps it to INVALID_ARGUMENT; `field` says which input was wrong (e.g.
 * `patterns[2].pattern`) so a client can point at it.
 */
export class PolicyError extends Error {
  override readonly name = "PolicyError";
  readonly field: string;

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options);
    this.field = field;
  }
}
