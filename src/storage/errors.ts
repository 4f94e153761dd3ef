// Why storage refused something a client sent. The API turns each kind into its status:
// invalid -> 400, timeout -> 408, too-large -> 413, no-space -> 507. Messages name what to fix.

export type StorageRefusal = "invalid" | "timeout" | "too-large" | "no-space";

export class StorageError extends Error {
  constructor(
    readonly kind: StorageRefusal,
    message: string,
  ) {
    super(message);
  }
}

export const invalidInput = (message: string) => new StorageError("invalid", message);
