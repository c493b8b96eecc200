ALTER TABLE "epics" ADD COLUMN "overdue_notified_token" text;--> statement-breakpoint
ALTER TABLE "publications" ADD COLUMN "stuck_notified_attempt" integer;--> statement-breakpoint
CREATE INDEX "workspace_events_age_idx" ON "workspace_events" USING btree ("created_at");