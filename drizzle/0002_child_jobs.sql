DROP INDEX `jobs_parent_idx`;--> statement-breakpoint
ALTER TABLE `jobs` ADD `spawn_seq` integer;--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_parent_seq_idx` ON `jobs` (`parent_uuid`,`spawn_seq`);