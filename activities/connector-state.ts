// What happens to a connector whose platform refused our access lives in the connector store
// (db/connectors/), shared with the API; this name stays for the epic activities that import it from here.
export { flagBeyondExpiry } from '../db/connectors/at-risk.ts';
export { flagReconnectRequired } from '../db/connectors/transitions.ts';
