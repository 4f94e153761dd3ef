// The store's per-job writes as plain SQL on the connection, without drizzle's query builder.
// Building a drizzle insert or update costs 50 to 150 µs of CPU each time it runs (the builder
// walks the table's columns and assembles SQL chunks on every call), and a job makes about ten of
// them (insert, claim, outcome). Here each write's SQL text depends only on which columns it sets,
// so the connection keeps its compiled statement (db.ts reusePreparedStatements) and a write is a
// bind and a step. The column names and value conversions still come from the drizzle schema, so
// schema.ts stays the one definition.
import type { SQLQueryBindings } from "bun:sqlite";
import { getTableColumns, getTableName, type Table } from "drizzle-orm";
import type { Db } from "./db.ts";

interface Column {
  name: string;
  mapToDriverValue(value: unknown): unknown;
}

export class RowWriter<Row extends Record<string, unknown>> {
  private readonly table: string;
  private readonly columns: Record<string, Column>;
  /** SQL text by the keys written (in order): building it again would cost what this saves. */
  private readonly texts = new Map<string, string>();

  constructor(
    private readonly db: Db,
    table: Table,
  ) {
    this.table = getTableName(table);
    this.columns = getTableColumns(table) as unknown as Record<string, Column>;
  }

  /** The keys of `values` that are set (undefined is skipped, as drizzle does) and their driver values. */
  private bind(values: Partial<Row>): { keys: string[]; params: SQLQueryBindings[] } {
    const keys: string[] = [];
    const params: SQLQueryBindings[] = [];
    for (const key in values) {
      const value = values[key];
      if (value === undefined) continue;
      const column = this.columns[key];
      if (!column) throw new Error(`${this.table} has no column for '${key}'`);
      keys.push(key);
      params.push((value === null ? null : column.mapToDriverValue(value)) as SQLQueryBindings);
    }
    return { keys, params };
  }

  private text(kind: string, keys: string[], build: (names: string[]) => string): string {
    const id = `${kind}:${keys.join(",")}`;
    let text = this.texts.get(id);
    if (text === undefined) {
      text = build(keys.map((key) => `"${this.columns[key]!.name}"`));
      // Bounded like the statement cache: call sites write a handful of column sets.
      if (this.texts.size < 100) this.texts.set(id, text);
    }
    return text;
  }

  /** Inserts one row (columns left out take their default); returns its rowid. */
  insert(values: Partial<Row>): number {
    const { keys, params } = this.bind(values);
    const text = this.text(
      "insert",
      keys,
      (names) =>
        `INSERT INTO "${this.table}" (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`,
    );
    return Number(this.db.$client.prepare(text).run(...params).lastInsertRowid);
  }

  /** Sets `set` on the rows matching `where` (SQL over the table's columns, `?` bound to `whereParams`); returns how many changed. */
  update(set: Partial<Row>, where: string, ...whereParams: SQLQueryBindings[]): number {
    const { keys, params } = this.bind(set);
    const text = this.text(
      `update ${where}`,
      keys,
      (names) => `UPDATE "${this.table}" SET ${names.map((n) => `${n} = ?`).join(", ")} WHERE ${where}`,
    );
    return this.db.$client.prepare(text).run(...params, ...whereParams).changes;
  }
}
