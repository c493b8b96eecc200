// The custom search attributes of SPEC §8, typed once for the API (workflow start) and the workflows (upserts).
// dev/temporal-dev-server.ts and docker-compose.yml register the same names and types on every server.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const epicSearchAttributes = {
  EpicId: defineSearchAttributeKey('EpicId', SearchAttributeType.KEYWORD),
  EpicStatus: defineSearchAttributeKey('EpicStatus', SearchAttributeType.KEYWORD),
  WorkspaceId: defineSearchAttributeKey('WorkspaceId', SearchAttributeType.KEYWORD),
  ScheduledAt: defineSearchAttributeKey('ScheduledAt', SearchAttributeType.DATETIME),
  Channels: defineSearchAttributeKey('Channels', SearchAttributeType.KEYWORD_LIST),
} as const;

export const connectorSearchAttributes = {
  ConnectorId: defineSearchAttributeKey('ConnectorId', SearchAttributeType.KEYWORD),
  ConnectorStatus: defineSearchAttributeKey('ConnectorStatus', SearchAttributeType.KEYWORD),
  WorkspaceId: epicSearchAttributes.WorkspaceId,
} as const;
