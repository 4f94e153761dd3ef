// STEP assemblies whose parts are other files (AP203/AP214 external references, as CAD tools
// export an assembly "with external references"): which documents a STEP file places, and where.
// OpenCascade (as packaged in occt-import-js) reads one file from memory and cannot open the parts
// itself; this reads the assembly structure of the text, so import.ts can read each part and place
// it. Only what that needs is parsed: DOCUMENT_FILE and APPLIED_DOCUMENT_REFERENCE (which product
// is which file), NEXT_ASSEMBLY_USAGE_OCCURRENCE (the tree), CONTEXT_DEPENDENT_SHAPE_REPRESENTATION
// with ITEM_DEFINED_TRANSFORMATION (the placements), and the file's length unit.

/** A column-major 4x4 matrix, as glTF's node matrix. */
export type Matrix = number[];

export interface StepReference {
  /** The referenced file's name, as the assembly writes it (relative to the assembly's folder). */
  file: string;
  /** The occurrence's name in the assembly. */
  name: string;
  /** Where the part goes in the assembly, translations in millimetres. */
  matrix: Matrix;
}

interface Entity {
  type: string;
  /** The text between the outer parentheses (for a complex entity: all of its parts). */
  args: string;
}

/** The DATA section's entities by id. Statements end at `;` outside quoted strings. */
function parseEntities(text: string): Map<number, Entity> {
  const entities = new Map<number, Entity>();
  const data = text.indexOf("DATA;");
  let start = data < 0 ? 0 : data + 5;
  let quoted = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === "'") quoted = !quoted;
    else if (c === ";" && !quoted) {
      const statement = text.slice(start, i).trim();
      start = i + 1;
      const match = /^#(\d+)\s*=\s*([A-Z0-9_]*)\s*\(([\s\S]*)\)$/.exec(statement);
      if (match) entities.set(Number(match[1]), { type: match[2] || "COMPLEX", args: match[3]! });
    }
  }
  return entities;
}

/** Top-level arguments of an argument list (commas inside parentheses or strings do not split). */
function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let from = 0;
  for (let i = 0; i < args.length; i++) {
    const c = args[i];
    if (c === "'") quoted = !quoted;
    else if (quoted) continue;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      out.push(args.slice(from, i).trim());
      from = i + 1;
    }
  }
  out.push(args.slice(from).trim());
  return out;
}

const ref = (arg: string | undefined): number | null =>
  arg && /^#\d+$/.test(arg) ? Number(arg.slice(1)) : null;
const refs = (arg: string | undefined): number[] =>
  [...(arg ?? "").matchAll(/#(\d+)/g)].map((m) => Number(m[1]));
const text = (arg: string | undefined): string =>
  arg?.startsWith("'") ? arg.slice(1, -1).replaceAll("''", "'") : "";

const SI_PREFIX: Record<string, number> = {
  ".MILLI.": 1,
  ".CENTI.": 10,
  ".DECI.": 100,
  $: 1000,
  ".KILO.": 1e6,
};

/** Millimetres per unit of a length unit entity: an SI unit, or one converted from another. */
function millimetres(entities: Map<number, Entity>, id: number, depth = 0): number | null {
  const entity = entities.get(id);
  if (!entity || depth > 4) return null;
  const si = /SI_UNIT\s*\(\s*([.A-Z$]+)\s*,\s*\.METRE\.\s*\)/.exec(entity.args);
  if (si && (entity.type === "COMPLEX" || entity.type === "SI_UNIT")) return SI_PREFIX[si[1]!] ?? null;
  const converted = /CONVERSION_BASED_UNIT\s*\(\s*'[^']*'\s*,\s*#(\d+)\s*\)/.exec(entity.args);
  const measure = converted ? entities.get(Number(converted[1])) : undefined;
  const value = measure ? /\(\s*([-+.\dEe]+)\s*\)\s*,\s*#(\d+)/.exec(measure.args) : null;
  if (!value) return null;
  const base = millimetres(entities, Number(value[2]), depth + 1);
  return base === null ? null : Number(value[1]) * base;
}

/** Millimetres per unit of length of the file's (first) representation context; 1 when unsaid. */
function lengthUnit(entities: Map<number, Entity>): number {
  for (const entity of entities.values()) {
    const units = /GLOBAL_UNIT_ASSIGNED_CONTEXT\s*\(\s*\(([^)]*)\)/.exec(entity.args);
    if (!units) continue;
    for (const id of refs(units[1])) {
      if (!/LENGTH_UNIT/.test(entities.get(id)?.args ?? "")) continue;
      const mm = millimetres(entities, id);
      if (mm !== null && Number.isFinite(mm) && mm > 0) return mm;
    }
  }
  return 1;
}

type Vec = [number, number, number];
const unit = (v: Vec): Vec => {
  const l = Math.hypot(...v);
  return l > 0 ? [v[0] / l, v[1] / l, v[2] / l] : v;
};
const cross = (a: Vec, b: Vec): Vec => [
  a[1] * b[2] - a[2] * b[1],
  a[2] * b[0] - a[0] * b[2],
  a[0] * b[1] - a[1] * b[0],
];

/** An AXIS2_PLACEMENT_3D as the matrix from its local frame to its context. */
function placement(entities: Map<number, Entity>, id: number | null, scale: number): Matrix {
  const entity = id === null ? undefined : entities.get(id);
  const numbers = (pointId: number | null): Vec | null => {
    const e = pointId === null ? undefined : entities.get(pointId);
    const list = e ? splitArgs(e.args)[1] : undefined;
    if (!list) return null;
    const values = list.replace(/[()]/g, "").split(",").map(Number);
    return values.length >= 3 && values.every(Number.isFinite) ? [values[0]!, values[1]!, values[2]!] : null;
  };
  const args = entity?.type === "AXIS2_PLACEMENT_3D" ? splitArgs(entity.args) : [];
  const origin = numbers(ref(args[1])) ?? [0, 0, 0];
  const z = unit(numbers(ref(args[2])) ?? [0, 0, 1]);
  let x = numbers(ref(args[3])) ?? [1, 0, 0];
  const along = x[0] * z[0] + x[1] * z[1] + x[2] * z[2];
  x = unit([x[0] - along * z[0], x[1] - along * z[1], x[2] - along * z[2]]);
  if (Math.hypot(...x) === 0) x = unit(Math.abs(z[0]) < 0.9 ? cross([0, 1, 0], z) : cross([0, 0, 1], z));
  const y = cross(z, x);
  return [...x, 0, ...y, 0, ...z, 0, origin[0] * scale, origin[1] * scale, origin[2] * scale, 1];
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  const out = new Array<number>(16).fill(0);
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) sum += a[k * 4 + r]! * b[c * 4 + k]!;
      out[c * 4 + r] = sum;
    }
  }
  return out;
}

/** The inverse of a rotation plus translation. */
function invertRigid(m: Matrix): Matrix {
  const out = [m[0]!, m[4]!, m[8]!, 0, m[1]!, m[5]!, m[9]!, 0, m[2]!, m[6]!, m[10]!, 0, 0, 0, 0, 1];
  for (let r = 0; r < 3; r++) out[12 + r] = -(out[r]! * m[12]! + out[4 + r]! * m[13]! + out[8 + r]! * m[14]!);
  return out;
}

export const IDENTITY: Matrix = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];

/**
 * The external files a STEP file places, each with its placement in the file's coordinates
 * (millimetres), following the assembly tree down from its top product. Empty for a file that
 * references no other file.
 */
export function externalReferences(source: string): StepReference[] {
  if (!source.includes("DOCUMENT_FILE")) return [];
  const entities = parseEntities(source);
  const byType = new Map<string, [number, Entity][]>();
  for (const [id, entity] of entities) {
    const list = byType.get(entity.type);
    if (list) list.push([id, entity]);
    else byType.set(entity.type, [[id, entity]]);
  }
  const all = (type: string) => byType.get(type) ?? [];

  // Which product definition is which file.
  const fileOf = new Map<number, string>();
  for (const [, entity] of all("APPLIED_DOCUMENT_REFERENCE")) {
    const [document, , items] = splitArgs(entity.args);
    const file = entities.get(ref(document) ?? -1);
    if (file?.type !== "DOCUMENT_FILE") continue;
    const name = text(splitArgs(file.args)[0]);
    if (name) for (const pd of refs(items)) fileOf.set(pd, name);
  }
  if (fileOf.size === 0) return [];

  const scale = lengthUnit(entities);
  // Product definition -> its shape representation; occurrence -> its placement relationship.
  const shapeOf = new Map<number, number>();
  for (const [id, entity] of all("PRODUCT_DEFINITION_SHAPE")) {
    const target = ref(splitArgs(entity.args)[2]);
    if (target !== null) shapeOf.set(target, id);
  }
  const representationOf = new Map<number, number>();
  for (const [, entity] of all("SHAPE_DEFINITION_REPRESENTATION")) {
    const [definition, representation] = splitArgs(entity.args).map(ref);
    if (definition != null && representation != null) representationOf.set(definition, representation);
  }
  const relationOf = new Map<number, number>();
  for (const [, entity] of all("CONTEXT_DEPENDENT_SHAPE_REPRESENTATION")) {
    const [relation, definition] = splitArgs(entity.args).map(ref);
    if (relation != null && definition != null) relationOf.set(definition, relation);
  }

  /** Where an occurrence places its child, in the parent's frame. */
  const placementOf = (occurrence: number, child: number): Matrix => {
    const relation = entities.get(relationOf.get(shapeOf.get(occurrence) ?? -1) ?? -1);
    if (!relation) return IDENTITY;
    const transformation = /REPRESENTATION_RELATIONSHIP_WITH_TRANSFORMATION\s*\(\s*#(\d+)\s*\)/.exec(
      relation.args,
    );
    const reps = /(?<![A-Z_])REPRESENTATION_RELATIONSHIP\s*\(([^)]*)\)/.exec(relation.args);
    const item = entities.get(Number(transformation?.[1] ?? -1));
    if (item?.type !== "ITEM_DEFINED_TRANSFORMATION") return IDENTITY;
    const [, , first, second] = splitArgs(item.args).map(ref);
    const one = placement(entities, first ?? null, scale);
    const two = placement(entities, second ?? null, scale);
    // The transformation maps the first representation's item onto the second's: the child is
    // usually the first. When the second is the child's, the placement is the other way round.
    const childRepresentation = representationOf.get(shapeOf.get(child) ?? -1);
    const secondRep = reps ? ref(splitArgs(reps[1]!)[3]) : null;
    return secondRep !== null && secondRep === childRepresentation
      ? multiply(one, invertRigid(two))
      : multiply(two, invertRigid(one));
  };

  const children = new Map<number, { occurrence: number; child: number; name: string }[]>();
  const isChild = new Set<number>();
  for (const [id, entity] of all("NEXT_ASSEMBLY_USAGE_OCCURRENCE")) {
    const args = splitArgs(entity.args);
    const parent = ref(args[3]);
    const child = ref(args[4]);
    if (parent === null || child === null) continue;
    const list = children.get(parent) ?? [];
    list.push({ occurrence: id, child, name: text(args[1]) || text(args[0]) });
    children.set(parent, list);
    isChild.add(child);
  }
  const found: StepReference[] = [];
  const visit = (pd: number, matrix: Matrix, depth: number) => {
    const file = fileOf.get(pd);
    if (file) {
      found.push({ file, name: "", matrix });
      return;
    }
    if (depth > 32) return;
    for (const { occurrence, child, name } of children.get(pd) ?? []) {
      const before = found.length;
      visit(child, multiply(matrix, placementOf(occurrence, child)), depth + 1);
      for (let i = before; i < found.length; i++)
        if (!found[i]!.name) found[i]!.name = name || found[i]!.file;
    }
  };
  for (const [id] of [...all("PRODUCT_DEFINITION"), ...all("PRODUCT_DEFINITION_WITH_ASSOCIATED_DOCUMENTS")]) {
    if (!isChild.has(id)) visit(id, IDENTITY, 0);
  }
  return found;
}
