// Why storage refused something a client sent. The API turns each kind into its status:
// invalid -> 400, too-large -> 413, no-space -> 507. Messages name what to fix.

export type StorageRefusal = "invalid" | "too-large" | "no-space";

export class StorageError extends Error {
  constructor(
    readonly kind: StorageRefusal,
    message: string,
  ) {
    super(message);
  }
}

export const invalidInput = (message: string) => new StorageError("invalid", message);

/** 1536 -> "1.5 KiB"; for messages. */
export function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} bytes` : `${Number(value.toFixed(1))} ${units[unit]}`;
}
