CREATE TABLE "call_turns" (
	"key" text PRIMARY KEY NOT NULL,
	"given" double precision[] NOT NULL
);
