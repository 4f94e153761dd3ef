// Preloaded by bun test (bunfig.toml): what runs once every test file has run. Tests keep their
// data folders until then (a daemon restarted on the same folder, a folder read after a kill).
import { afterAll } from "bun:test";
import { removeTempDirs } from "./daemon.ts";

afterAll(removeTempDirs);
