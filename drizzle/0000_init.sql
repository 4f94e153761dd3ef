CREATE TABLE `attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`job_id` integer NOT NULL,
	`number` integer NOT NULL,
	`queue` text NOT NULL,
	`slot` text NOT NULL,
	`node_id` text,
	`lease_expires_at` integer,
	`pgid` integer,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	`exit_cause` text,
	`exit_code` integer,
	`signal` text,
	`peak_rss_kb` integer,
	`steps_json` text,
	`error` text,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `attempts_job_idx` ON `attempts` (`job_id`);--> statement-breakpoint
CREATE TABLE `job_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`job_id` integer NOT NULL,
	`attempt_id` integer,
	`from_status` text,
	`to_status` text NOT NULL,
	`at` integer DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER)) NOT NULL,
	`detail` text,
	FOREIGN KEY (`job_id`) REFERENCES `jobs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `job_events_job_idx` ON `job_events` (`job_id`,`id`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`uuid` text NOT NULL,
	`name` text,
	`process` text NOT NULL,
	`script_file` text,
	`input_file` text,
	`entrypoint` text NOT NULL,
	`queue` text NOT NULL,
	`priority` integer DEFAULT 0 NOT NULL,
	`time_limit_s` integer NOT NULL,
	`compute_only` integer DEFAULT false NOT NULL,
	`root_file` text,
	`params_json` text NOT NULL,
	`config_json` text NOT NULL,
	`status` text NOT NULL,
	`progress` integer,
	`steps_json` text,
	`result_json` text,
	`error` text,
	`retry` integer DEFAULT 0 NOT NULL,
	`current_attempt_id` integer,
	`wait_reason` text,
	`parent_uuid` text,
	`origin_node` text,
	`requested_at` integer NOT NULL,
	`started_at` integer,
	`stopped_at` integer,
	`files_cleaned_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `jobs_uuid_unique` ON `jobs` (`uuid`);--> statement-breakpoint
CREATE INDEX `jobs_claim_idx` ON `jobs` (`status`,`queue`,"priority" DESC,`id`);--> statement-breakpoint
CREATE INDEX `jobs_parent_idx` ON `jobs` (`parent_uuid`);