// The operating system and CPU model for `doctor`'s host line, through systeminformation (its probes
// read /proc, /etc/os-release and lscpu: about 0.1 s). Imported only here, by the command that shows
// them: the daemon sizes its slots from node:os and never pays for the module or its probes.

/** "Debian GNU/Linux 12 (kernel 6.1.0, x64), AMD EPYC 7763, 2 cores", or null when the probes fail. */
export async function hostSummary(): Promise<string | null> {
  try {
    const si = await import("systeminformation");
    const [cpu, os] = await Promise.all([si.cpu(), si.osInfo()]);
    const system = [os.distro, os.release].filter(Boolean).join(" ") || os.platform;
    const model = [cpu.manufacturer, cpu.brand].filter(Boolean).join(" ") || "unknown CPU";
    return `${system} (kernel ${os.kernel}, ${os.arch}), ${model}, ${cpu.cores} cores`;
  } catch {
    return null;
  }
}
