// A connector's status as stored. "Partially connected" is not stored: the view reads it from the accounts.
export const connectorStatuses = ['connected', 'reconnect_required', 'not_connected'] as const;
export type ConnectorStatus = (typeof connectorStatuses)[number];
