// Opens the SQLite job store and brings its schema up to date from the migrations embedded in
// the binary (drizzle-kit's SQL files, imported as text by src/generated/embedded.ts).
import { Database, type Statement } from "bun:sqlite";
import { createHash } from "node:crypto";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrations } from "../generated/embedded.ts";
import * as schema from "./schema.ts";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

export interface EmbeddedMigration {
  tag: string;
  when: number;
  breakpoints: boolean;
  sql: string;
}

export function openDatabase(path: string, embedded: EmbeddedMigration[] = migrations): Db {
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.exec("PRAGMA journal_mode = WAL");
  // NORMAL (WAL): every commit survives a crash or kill -9 of the daemon; only power loss can take
  // the last ones. Before a client is told of a commit (a submission, a cancel), the WAL file is
  // fsynced off the event loop (JobStore.synced, wal-sync.ts), so those survive power loss too
  // (invariant 1). The rest (claims, progress, outcomes) would at worst run a job again:
  // at-least-once, by design.
  sqlite.exec("PRAGMA synchronous = NORMAL");
  sqlite.exec("PRAGMA foreign_keys = ON");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  reusePreparedStatements(sqlite);
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, embedded);
  return db;
}

/** How many distinct SQL texts keep their compiled statement (a list of n ids is its own text). */
const STATEMENT_CACHE_SIZE = 200;

/**
 * drizzle compiles a fresh statement (sqlite3_prepare) for every query it runs, though each call
 * site sends the same SQL text every time with new parameters. The connection keeps each text's
 * compiled statement and hands it out again: about a fifth off the store's CPU per job
 * (bench/store-cycle.ts: ~1.40 -> ~1.14 ms per job, in alternating runs).
 * Safe here because every use runs to its end synchronously (run/get/all/values) on the one
 * connection, and nothing finalizes them before the connection closes. Past the bound, new texts
 * are compiled per use as before, so a stream of distinct texts cannot grow memory.
 */
function reusePreparedStatements(sqlite: Database): void {
  const compile = sqlite.prepare.bind(sqlite);
  const compiled = new Map<string, Statement>();
  sqlite.prepare = ((sql: string, ...rest: unknown[]) => {
    if (rest.length > 0) return compile(sql, ...(rest as []));
    let statement = compiled.get(sql);
    if (!statement) {
      statement = compile(sql);
      if (compiled.size < STATEMENT_CACHE_SIZE) compiled.set(sql, statement);
    }
    return statement;
  }) as Database["prepare"];
}

/**
 * Applies the embedded migrations with drizzle's own routine (same `__drizzle_migrations` table and
 * hashes as `drizzle-orm/bun-sqlite/migrator`, which can only read a folder on disk). That routine
 * is internal to drizzle-orm: the version is pinned and test/store.test.ts guards it.
 */
function migrate(db: Db, embedded: EmbeddedMigration[]): void {
  const list = embedded.map((m) => ({
    sql: m.sql.split("--> statement-breakpoint"),
    bps: m.breakpoints,
    folderMillis: m.when,
    hash: createHash("sha256").update(m.sql).digest("hex"),
  }));
  // biome-ignore lint/suspicious/noExplicitAny: drizzle's dialect/session are not part of its public types.
  const internal = db as any;
  internal.dialect.migrate(list, internal.session, { migrationsFolder: "(embedded)" });
}
