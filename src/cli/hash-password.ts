// `pixyz-scheduler hash-password`: prints the SHA-256 hex of a token for GOD_PASSWORD_SHA256.
// On a terminal it asks for the token without echoing it; otherwise it reads one line from
// standard input (`printf '%s' "$TOKEN" | pixyz-scheduler hash-password`).
import { createHash } from "node:crypto";

const HELP = `Usage: pixyz-scheduler hash-password
       printf '%s' TOKEN | pixyz-scheduler hash-password

Prints the hex SHA-256 of the token, to put in GOD_PASSWORD_SHA256. On a terminal the token is
asked for and not shown as it is typed; otherwise the first line of standard input is read.`;

/** Reads one line from the terminal with echo off (raw mode); null when cancelled (Ctrl-C, Ctrl-D). */
function readHidden(prompt: string): Promise<string | null> {
  const stdin = process.stdin;
  // Echo goes off before the prompt shows: nothing typed after the prompt can be echoed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolve) => {
    let text = "";
    const finish = (value: string | null) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return finish(text);
        if (ch === "\u0003") return finish(null); // Ctrl-C
        if (ch === "\u0004") return finish(text === "" ? null : text); // Ctrl-D
        if (ch === "\u007f" || ch === "\b") text = [...text].slice(0, -1).join("");
        else if (ch >= " ") text += ch;
      }
    };
    stdin.resume();
    stdin.on("data", onData);
  });
}

export async function run(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  if (argv.length > 0) {
    console.error(
      `pixyz-scheduler hash-password: unexpected argument '${argv[0]}' (the token is read, never passed as an argument, so it stays out of the shell history)`,
    );
    return 2;
  }
  let token: string | null;
  if (process.stdin.isTTY) {
    token = await readHidden("Token (not shown): ");
    if (token === null) {
      console.error("pixyz-scheduler hash-password: cancelled");
      return 130;
    }
  } else {
    const input = await Bun.stdin.text();
    token = input.split(/\r?\n/)[0] ?? "";
  }
  if (token === "") {
    console.error("pixyz-scheduler hash-password: the token is empty");
    return 2;
  }
  console.log(createHash("sha256").update(token).digest("hex"));
  return 0;
}
