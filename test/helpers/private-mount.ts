// Runs a command in a private mount namespace (unshare, as root) after a mount made there: a
// daemon sees its data folder on a file system the test chose, and nothing outside sees the mount.

/** argv that runs `command` after the shell command `mount` ran in a new private mount namespace. */
export function withPrivateMount(mount: string, command: string[]): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "bash",
    "-c",
    `${mount} && exec "$@"`,
    "bash",
    ...command,
  ];
}
