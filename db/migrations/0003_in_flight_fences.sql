ALTER TABLE "connectors" ADD COLUMN "refresh_lease_until" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "epics" ADD COLUMN "schedule_token" text;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "going_live_at" timestamp (3) with time zone;