// `pixyz-scheduler hash-password`: prints the SHA-256 hex of a token for GOD_PASSWORD_SHA256.
// Reads one line from stdin (pipe it: `echo -n "$TOKEN" | pixyz-scheduler hash-password`).
import { createHash } from "node:crypto";

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(
      "Usage: printf '%s' TOKEN | pixyz-scheduler hash-password\nPrints the hex SHA-256 to put in GOD_PASSWORD_SHA256.",
    );
    return 0;
  }
  const input = await Bun.stdin.text();
  const token = input.split(/\r?\n/)[0] ?? "";
  if (token === "") {
    console.error("pixyz-scheduler hash-password: no token on standard input");
    return 2;
  }
  console.log(createHash("sha256").update(token).digest("hex"));
  return 0;
}
