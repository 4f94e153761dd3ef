// Which file of an extracted archive a job opens (its "root file"), as the original's
// get_first_3D_files_in_directory, but deterministic: the original took the first match in
// os.walk order, which depends on the filesystem (and picked a sub-assembly of Brakes.zip).

/** The original's list of 3D/CAD extensions (uppercase, without the dot). */
export const CAD_EXTENSIONS: ReadonlySet<string> = new Set(
  `PXZ 3DS ACIS SAT SAB DWG DXF WIRE FBX IPT IAM NWD NWC RVT RFA RCP RCS VPB CATPART
   CATPRODUCT CATSHAPE CGR 3DXML ASM NEU PRT XAS XPR PVS PVZ CSB GLTF GLB GDS IFC IGS
   IGES JT OBJ X_B X_T P_T P_B XMT XMT_TXT XMT_BIN PDF PLMXML E57 PTS PTX PRC 3DM
   RVM SKP PAR PWD PSM SLDASM SLDPRT STP STEP STPZ STEPZ STPX STPXZ STL U3D USD
   USDZ USDA USDC VDA WRL VRML`.split(/\s+/),
);

/** Assembly formats: at the same depth, an assembly is the root rather than one of its parts. */
const ASSEMBLIES: ReadonlySet<string> = new Set(["CATPRODUCT", "IAM", "ASM", "SLDASM", "PLMXML", "3DXML"]);

function extensionOf(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot <= 0 ? "" : base.slice(dot + 1).toUpperCase();
}

export function isCadFile(path: string): boolean {
  return CAD_EXTENSIONS.has(extensionOf(path));
}

/**
 * The root file among `files` (relative paths): the shallowest CAD file, an assembly before a
 * part at the same depth, then by name. Null when none has a CAD extension.
 */
export function chooseRootFile(files: readonly string[]): string | null {
  const rank = (path: string) => [path.split("/").length, ASSEMBLIES.has(extensionOf(path)) ? 0 : 1] as const;
  let best: string | null = null;
  for (const path of files) {
    if (!isCadFile(path)) continue;
    if (best === null) {
      best = path;
      continue;
    }
    const [depth, kind] = rank(path);
    const [bestDepth, bestKind] = rank(best);
    if (
      depth < bestDepth ||
      (depth === bestDepth && (kind < bestKind || (kind === bestKind && path < best)))
    ) {
      best = path;
    }
  }
  return best;
}
