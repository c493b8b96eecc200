CREATE TABLE "webhook_deliveries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"endpoint_id" uuid NOT NULL,
	"event_id" uuid NOT NULL,
	"sequence" bigint NOT NULL,
	"ordering_key" uuid NOT NULL,
	"replay" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_status_code" integer,
	"last_error" text,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"first_attempt_at" timestamp (3) with time zone,
	"delivered_at" timestamp (3) with time zone,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_endpoints" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"url" text NOT NULL,
	"events" jsonb NOT NULL,
	"description" text,
	"secret" "bytea" NOT NULL,
	"secret_key_id" text NOT NULL,
	"queued_through" bigint NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "workspace_events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"position" bigserial NOT NULL,
	"txid" "xid8" DEFAULT pg_current_xact_id() NOT NULL,
	"workspace_id" uuid NOT NULL,
	"sequence" bigint,
	"type" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" uuid NOT NULL,
	"ordering_key" uuid NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "workspaces" ADD COLUMN "event_sequence" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_endpoint_id_webhook_endpoints_id_fk" FOREIGN KEY ("endpoint_id") REFERENCES "public"."webhook_endpoints"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_event_id_workspace_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."workspace_events"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "workspace_events" ADD CONSTRAINT "workspace_events_workspace_id_workspaces_id_fk" FOREIGN KEY ("workspace_id") REFERENCES "public"."workspaces"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_pending_idx" ON "webhook_deliveries" USING btree ("endpoint_id","sequence") WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_deliveries_endpoint_created_idx" ON "webhook_deliveries" USING btree ("endpoint_id","created_at","id");--> statement-breakpoint
CREATE INDEX "webhook_endpoints_workspace_idx" ON "webhook_endpoints" USING btree ("workspace_id","created_at","id");--> statement-breakpoint
CREATE UNIQUE INDEX "workspace_events_sequence_key" ON "workspace_events" USING btree ("workspace_id","sequence");--> statement-breakpoint
CREATE INDEX "workspace_events_unsequenced_idx" ON "workspace_events" USING btree ("workspace_id","position") WHERE "workspace_events"."sequence" is null;--> statement-breakpoint
CREATE INDEX "workspace_events_created_idx" ON "workspace_events" USING btree ("workspace_id","created_at");--> statement-breakpoint
-- Every status change of an epic, a publication or a connector becomes a workspace event in the transaction
-- that made it: no write path (API, activity, admin, a future one) can change a status without its event.
-- The event only inserts (its foreign key's key-share lock on the workspace, which the numbering's no-key-update
-- lock does not wait for), so it adds no lock-order between transactions; its per-workspace sequence number
-- is given later, in commit order (db/workspace-events.ts).
CREATE FUNCTION "glowtify_record_transition"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  subject text := TG_ARGV[0];
  workspace uuid;
  row_after record;
  from_status text;
  to_status text;
  ordering uuid;
  payload jsonb;
BEGIN
  -- A workspace without a webhook endpoint has nobody to tell: no event is kept (an endpoint registered later
  -- starts from its registration).
  IF TG_OP = 'DELETE' THEN workspace := OLD.workspace_id; ELSE workspace := NEW.workspace_id; END IF;
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE workspace_id = workspace) THEN RETURN NULL; END IF;
  IF TG_OP = 'DELETE' THEN
    -- An epic deleted with its whole workspace has nobody left to tell.
    IF NOT EXISTS (SELECT 1 FROM workspaces WHERE id = workspace) THEN RETURN NULL; END IF;
    row_after := OLD;
    from_status := OLD.status;
    to_status := 'deleted';
  ELSIF TG_OP = 'UPDATE' THEN
    IF NEW.status IS NOT DISTINCT FROM OLD.status THEN RETURN NULL; END IF;
    row_after := NEW;
    from_status := OLD.status;
    to_status := NEW.status;
  ELSE
    -- Created: an epic (a draft) or a connector connected at once; a publication is created pending with its task.
    IF subject = 'publication' OR (subject = 'connector' AND NEW.status = 'not_connected') THEN RETURN NULL; END IF;
    row_after := NEW;
    to_status := NEW.status;
  END IF;
  IF subject = 'epic' THEN
    ordering := row_after.id;
    payload := jsonb_build_object('epicId', row_after.id, 'title', row_after.title,
      'scheduledAt', row_after.scheduled_at, 'timeZone', row_after.time_zone);
  ELSIF subject = 'publication' THEN
    ordering := row_after.epic_id;
    payload := jsonb_build_object('publicationId', row_after.id, 'epicId', row_after.epic_id,
      'taskId', row_after.task_id, 'externalId', row_after.external_id, 'externalUrl', row_after.external_url,
      'attempts', row_after.attempts, 'error', row_after.last_error);
  ELSE
    ordering := row_after.id;
    payload := jsonb_build_object('connectorId', row_after.id, 'platform', row_after.platform,
      'error', row_after.last_error);
  END IF;
  INSERT INTO workspace_events (workspace_id, type, subject_type, subject_id, ordering_key, data)
  VALUES (row_after.workspace_id, subject || '.' || to_status, subject, row_after.id, ordering,
    payload || jsonb_build_object('from', from_status, 'to', to_status));
  -- Delivered at commit (and only then): wakes the workers' webhook pump. Only workspaces with an endpoint
  -- notify (above), so a commit elsewhere never waits on the notification queue's lock.
  PERFORM pg_notify('workspace_events', row_after.workspace_id::text);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER "epics_transitions" AFTER INSERT OR DELETE OR UPDATE OF "status" ON "epics"
  FOR EACH ROW EXECUTE FUNCTION "glowtify_record_transition"('epic');
--> statement-breakpoint
CREATE TRIGGER "publications_transitions" AFTER INSERT OR UPDATE OF "status" ON "publications"
  FOR EACH ROW EXECUTE FUNCTION "glowtify_record_transition"('publication');
--> statement-breakpoint
CREATE TRIGGER "connectors_transitions" AFTER INSERT OR UPDATE OF "status" ON "connectors"
  FOR EACH ROW EXECUTE FUNCTION "glowtify_record_transition"('connector');
