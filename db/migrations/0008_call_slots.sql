CREATE TABLE "call_slots" (
	"key" text NOT NULL,
	"slot" integer NOT NULL,
	"holder" text,
	"held_until" double precision NOT NULL,
	CONSTRAINT "call_slots_key_slot_pk" PRIMARY KEY("key","slot")
);
