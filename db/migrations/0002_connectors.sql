CREATE TABLE "analytics_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"account_id" uuid NOT NULL,
	"day" text NOT NULL,
	"source_medium" text NOT NULL,
	"campaign" text NOT NULL,
	"sessions" integer NOT NULL,
	"synced_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "oauth_states" ALTER COLUMN "code_verifier" SET DATA TYPE bytea USING NULL;--> statement-breakpoint
ALTER TABLE "connector_accounts" ADD COLUMN "last_sync_error" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "code_verifier_key_id" text;--> statement-breakpoint
ALTER TABLE "oauth_states" ADD COLUMN "context" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "analytics_sessions" ADD CONSTRAINT "analytics_sessions_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "analytics_sessions" ADD CONSTRAINT "analytics_sessions_account_id_connector_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."connector_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "analytics_sessions_key" ON "analytics_sessions" USING btree ("account_id","day","source_medium","campaign");--> statement-breakpoint
CREATE INDEX "analytics_sessions_workspace_idx" ON "analytics_sessions" USING btree ("workspace_id","day");